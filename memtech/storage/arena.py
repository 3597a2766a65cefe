"""The flat buffer of one tensor role in one memory: every read and write of it through the memory's errors.

An :class:`Arena` puts together the parts that each own one concern:

* :class:`~memtech.storage.words.StoredWords` — the words as stored and their code's damage patterns;
  :class:`~memtech.storage.words.Decoder` — what parity, SECDED and the sanity check make of them;
* the error events, each with its own random stream: :class:`~memtech.storage.writes.WriteErrors`, read
  sense and read disturb (:class:`~memtech.storage.events.ReadEvent`), :class:`~memtech.storage.events.Retention`;
* :class:`~memtech.storage.cells.Cells` — stuck cells, wear and weak cells, which persist when a role returns;
* :class:`~memtech.storage.counters.ArenaAccounting` — what each access counts and costs in simulated time.

An arena belongs to one run. The replica axis of a batched job lies above it (memtech.storage.replicas):
each replica has its own store, memories and arenas, so nothing here knows of replicas.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from memtech import faults
from memtech.protection import make_code
from memtech.storage.cells import Cells, set_bits
from memtech.storage.counters import AccessCounters, ArenaAccounting, SimClock
from memtech.storage.events import ReadEvent, Retention, distinct_rounds
from memtech.storage.memories import Memory
from memtech.storage.words import Decoder, StoredWords
from memtech.storage.writes import FEW, WriteErrors


class Arena:
    """The stored values of one role (or one layer's part of it) in one memory."""

    def __init__(self, role: str, n_values: int, memory: Memory, xp: Any, clock: SimClock, phase: list[str],
                 layer: str | None = None):
        self.role = role
        self.layer = layer  # with a per-layer placement, the layer whose counters this arena's accesses go to
        self.n_values = n_values
        self.memory = memory
        self.xp = xp
        self.clock = clock
        self.code = make_code(memory.params.protection, memory.format.bits)
        self.stored = StoredWords(n_values, memory.format, self.code, xp)
        self.words = self.stored.words  # the array itself, changed only in place
        self.code_bits, self.n_bits = self.stored.code_bits, self.stored.n_bits
        sanity = memory.params.sanity_bound if memory.params.protection == "sanity" else None
        self.decoder = Decoder(self.code, sanity, xp)
        self.accounting = ArenaAccounting(memory, layer, clock, phase)

        errors, seed = memory.errors, memory.seed
        names = memory.stream_names(role)
        accept = faults.stream_rng(seed, *names, "accept")  # thinning draws of writes and retention
        self.write_errors = WriteErrors(errors, faults.stream_rng(seed, *names, "write"), accept, self.stored,
                                        lambda failed: memory.defer_write_failures(phase[0], xp, failed))
        self.read_sense = ReadEvent(errors.read_sense_ber, faults.stream_rng(seed, *names, "read_sense"))
        self.read_disturb = ReadEvent(errors.read_disturb_ber, faults.stream_rng(seed, *names, "read_disturb"))
        self.retention = Retention(errors, faults.stream_rng(seed, *names, "retention-events"), accept,
                                   self.n_bits, self.code_bits, clock.now_s)
        # The cells themselves persist: a role that comes back to this memory finds the same stuck cells, wear
        # and weak cells (only its random event streams are new).
        previous = memory.arena_of_role.get(role)
        memory.arena_of_role[role] = self
        same_cells = previous is not None and previous.n_values == n_values
        self.cells = (previous.cells if same_cells
                      else Cells(errors, seed, names, self.stored, self.retention.rate_per_s))

    # --- bookkeeping ------------------------------------------------------------------------------------
    @property
    def counters(self) -> AccessCounters:
        """This memory's counters for the current phase, with every failure counted."""
        self.memory.settle_counts()
        return self.accounting.counters()

    @property
    def damage_words(self) -> np.ndarray:
        return self.stored.damage_words

    @property
    def damage_masks(self) -> np.ndarray:
        return self.stored.damage_masks

    def stuck_cells(self) -> tuple[np.ndarray, np.ndarray]:
        """(absolute codeword-bit positions, stuck values 0/1) of every stuck cell, sorted by position."""
        return self.cells.stuck.cells()

    def take_array_paths(self, device_switches: bool | None = None) -> None:
        """Take the array paths a GPU takes, here on the host (tests pin every path to the same faults):
        no element access, no compiled loop; switch-only failures decided by array operations, as on a
        device, unless ``device_switches`` is False."""
        write = self.write_errors
        self.stored.element_access = write.compiled = False
        if device_switches is None:
            device_switches = write.switch_only and not self.stored.has_check_bits
        write.on_device = device_switches

    # --- flips of the stored cells ------------------------------------------------------------------------
    def _flip(self, event: str, positions: np.ndarray | list[int], offset_words: int = 0) -> None:
        """Flip stored cells at sorted, distinct codeword-bit ``positions`` (relative to word ``offset_words``),
        except stuck ones, and count them as ``event``."""
        if len(positions) == 0:
            return
        stuck, stored = self.cells.stuck, self.stored
        if type(positions) is list:  # from an element-by-element path
            if not len(stuck):
                self._flip_few(event, positions, offset_words)
                return
            positions = np.array(positions, dtype=np.int64)
        if len(stuck):  # a stuck cell holds its value whatever happens to it
            positions = stuck.not_stuck(positions, offset_words)
            if len(positions) == 0:
                return
        if stored.element_access and len(positions) <= FEW:
            self._flip_few(event, positions.tolist(), offset_words)
            return
        words, bits = np.divmod(positions, self.code_bits)
        self.accounting.counters().add_flips(event, bits, self.code_bits)
        stored.flip(words + offset_words, bits, positions, offset_words)

    def _flip_few(self, event: str, positions: list[int], offset_words: int) -> None:
        counters = self.accounting.counters()
        counters.flips[event] += len(positions)
        self.stored.flip_few(positions, offset_words, counters.bit_flips)

    def _force_stuck(self, start: int, stop: int) -> None:
        """Put the stuck cells of words [start, stop) back to their stuck values (after a write)."""
        forcing = self.cells.stuck.forcing(self.stored, start, stop)
        if forcing is None:
            return
        words, damage = forcing
        _, bits = set_bits(damage, self.code_bits)
        self.accounting.counters().add_flips("stuck", bits, self.code_bits)
        self.stored.apply_damage(words, damage)

    def _apply_retention(self) -> None:
        for flips in self.retention.rounds(self.clock.now_s, self.stored.stored_bits):
            self._flip("retention", flips)

    # --- weak cells (memtech.storage.weak_cells) ---------------------------------------------------------
    def _correct_weak_writes(self, cells: np.ndarray, old: np.ndarray, new: np.ndarray) -> None:
        """Give the weak cells just written their own write error rate."""
        stored = self.stored.data_bits_at(self.words, cells)
        flip = self.cells.weak.write_corrections(old, new, stored)
        if not flip.any():
            return
        set_right = flip & (stored != new)
        self._flip("write", cells[flip])
        # A cell set right undoes a failure counted as a flip: take back that count and this one.
        if set_right.any():
            counters = self.accounting.counters()
            counters.flips["write"] -= 2 * int(set_right.sum())
            for bit in (cells[set_right] % self.code_bits).tolist():
                counters.bit_flips[bit] -= 2

    def _apply_weak_retention(self) -> None:
        for flips in distinct_rounds(self.cells.weak.retention_events(self.clock.now_s)):
            self._flip("retention", np.sort(flips))

    # --- the two accesses ---------------------------------------------------------------------------------
    def write(self, values: Any, start: int = 0) -> None:
        """Store float32 ``values`` at value offset ``start``, through write errors and stuck cells."""
        n = int(values.size)
        stop = start + n
        cells, stored = self.cells, self.stored
        if self.clock.now_s >= self.retention.due_s:
            self._apply_retention()  # bring the old contents up to now before they are overwritten
        weak = cells.weak
        weak_old = None
        if weak is not None:
            self._apply_weak_retention()
            weak_cells = weak.data_cells_in(start, stop)
            weak_old = stored.data_bits_at(self.words, weak_cells) if len(weak_cells) else None
        new_words, scale = stored.format.encode(self.xp, values.reshape(-1))
        counters = self.accounting.charge(n * self.code_bits, write=True)
        any_stuck = len(cells.stuck) > 0
        failures = self.write_errors.write(new_words, scale, start, counters, any_stuck)
        if len(failures):
            self._flip("write", failures, start)
        if weak_old is not None:
            self._correct_weak_writes(weak_cells, weak_old, stored.data_bits_at(new_words, weak_cells, start))
        if cells.wear is not None:
            worn_out = cells.wear.record_write(start, stop, cells.stuck)
            if worn_out:
                self.accounting.counters().cells_worn_out += worn_out
            any_stuck = len(cells.stuck) > 0
        if any_stuck:
            self._force_stuck(start, stop)

    def read(self, start: int = 0, stop: int | None = None) -> Any:
        """The float32 values at [start, stop), as the processor receives them.

        The result may be a view of the stored words: treat it as read-only.
        """
        xp, stored = self.xp, self.stored
        stop = self.n_values if stop is None else stop
        n_bits = (stop - start) * self.code_bits
        counters = self.accounting.charge(n_bits, write=False)
        if self.clock.now_s >= self.retention.due_s:
            self._apply_retention()
        if self.cells.weak is not None:
            self._apply_weak_retention()
        disturbed = self.read_disturb.draw(n_bits)
        if len(disturbed):
            self._flip("read_disturb", disturbed, start)
        words = self.words[start:stop]
        damage_words, damage_masks = stored.damage_in(start, stop)
        sense = self.read_sense.draw(n_bits)
        if len(sense) or (stored.has_check_bits and len(damage_words)):
            damage_words = damage_words - start
            words = words.copy()
            if len(sense):
                # A sensing error corrupts the value read, check bits included, never the stored cell.
                counters.add_flips("read_sense", sense % self.code_bits, self.code_bits)
                sense_words, sense_masks = faults.word_masks(sense, self.code_bits)
                data = sense_masks & stored.data_mask
                faults.xor_words(xp, words, sense_words[data != 0], data[data != 0])
                damage_words, damage_masks = faults.merge_masks(damage_words, damage_masks, sense_words, sense_masks)
        return self.decoder.values(stored, words, damage_words, damage_masks, start, stop, counters)

    def peek(self) -> Any:
        """The values as a read of this memory returns them (parity, SECDED and sanity decoding applied) without
        an access: nothing is counted, no time passes, no random event is drawn (a read's sensing errors are
        per read, so they are not part of what the memory holds). Evaluation, the stored model and
        ``memtech predict`` use these values."""
        return self.decoder.peek(self.stored)

"""Where each tensor role lives, and every read and write of it through its memory's fault engine.

A model's tensors of one role (weights, biases, activations, optimizer state) share one flat buffer, an
:class:`Arena`, in the memory that holds the role in the current phase; one call covers them all. Every
access is counted (bits, simulated time, flips, detections) per memory and per phase.

Error events (rates from the memory's :class:`~memtech.memory.ErrorModel`):

* write errors, by transition: a bit that must switch 0->1 or 1->0, or a bit written with its current value;
  candidates are drawn at the largest of the three rates and thinned to each bit's own rate, which keeps
  every bit exactly Bernoulli while a write with no candidate costs one comparison;
* read-sense errors corrupt only the value read; read disturb flips the stored cell;
* retention flips accumulate over the simulated time since the stored bits were last brought up to date;
* stuck-at cells are a persistent map per arena, forced after every write.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from memtech import faults
from memtech.weak_cells import WeakCells
from memtech.formats import FORMATS
from memtech.memory import MemoryTechnology
from memtech.protection import CORRECTED, ZEROED, make_code

try:  # the compiled hot loop of switch-only writes; built at install where a C compiler is present
    from memtech import _fastpath
except ImportError:  # pragma: no cover - depends on the install; the pure-Python path gives the same result
    _fastpath = None


def write_path() -> str:
    """Which write path this install runs on the CPU (shown by ``memtech --version``)."""
    if _fastpath is not None:
        return "compiled write path, memtech._fastpath"
    return "pure Python; memtech._fastpath was not built (no C compiler at install?): same faults, slower"


ROLES = ("weights", "biases", "activations", "optimizer")
_ONE = np.uint64(1)
EVENTS = ("write", "read_sense", "read_disturb", "retention", "stuck")


@dataclass
class AccessCounters:
    """What one memory did during one phase."""

    bits_read: int = 0  # check bits included: they are read and written with every word
    bits_written: int = 0
    read_time_s: float = 0.0
    write_time_s: float = 0.0
    occupied_time_s: float = 0.0  # simulated time during which the memory held data (leakage/refresh)
    flips: dict[str, int] = field(default_factory=lambda: {event: 0 for event in EVENTS})
    errors_corrected: int = 0
    errors_detected: int = 0
    values_zeroed: int = 0
    cells_worn_out: int = 0
    # flips per codeword bit (0 = least significant; data bits first, then check bits) and each bit's field
    bit_flips: list[int] = field(default_factory=lambda: [0] * 64)
    bit_fields: tuple[str, ...] = ()

    @property
    def total_flips(self) -> int:
        return sum(self.flips.values())

    def add(self, other: "AccessCounters") -> None:
        """Add ``other``'s counts to these (a memory's phase total is its layers' counters plus the rest)."""
        for name in ("bits_read", "bits_written", "read_time_s", "write_time_s", "occupied_time_s",
                     "errors_corrected", "errors_detected", "values_zeroed", "cells_worn_out"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for event, count in other.flips.items():
            self.flips[event] = self.flips.get(event, 0) + count
        self.bit_flips = [a + b for a, b in zip(self.bit_flips, other.bit_flips)]

    @property
    def flips_by_bit(self) -> dict[int, int]:
        """Flips per codeword bit position, for the positions that flipped at least once."""
        return {bit: count for bit, count in enumerate(self.bit_flips) if count}

    @property
    def flips_by_field(self) -> dict[str, int]:
        """Flips per field of the stored format (sign, exponent, mantissa; int8: sign, value) and check bits."""
        out: dict[str, int] = {}
        for bit, count in enumerate(self.bit_flips):
            if count:
                name = self.bit_fields[bit]
                out[name] = out.get(name, 0) + count
        return out


class SimClock:
    """Simulated time, advanced by the latency model and compute time; never by the wall clock."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


class Memory:
    """One memory instance of a run (e.g. ``mram``), with its technology's models and its counters."""

    def __init__(self, name: str, technology: MemoryTechnology, seed: int):
        self.name = name
        self.technology = technology
        self.params = technology.params
        self.errors = technology.error_model()
        self.latency = technology.latency_model()
        self.energy = technology.energy_model()
        self.seed = seed
        self.format = FORMATS[self.params.storage_format]
        data_bits = self.format.bits
        bit_fields = tuple(self.format.field_of_bit(b) if b < data_bits else "check" for b in range(64))
        self.counters: dict[str, AccessCounters] = defaultdict(lambda: AccessCounters(bit_fields=bit_fields))
        # (phase, layer label) -> what the arenas of one layer's weights and biases did, with a per-layer placement
        self.layer_counters: dict[tuple[str, str], AccessCounters] = defaultdict(lambda: AccessCounters(bit_fields=bit_fields))
        self._arenas_made: dict[str, int] = defaultdict(int)
        self.arena_of_role: dict[str, "Arena"] = {}  # the latest arena of each role held here
        # failed-switch masks decided on a GPU, (phase, device array), counted later in one transfer
        self._deferred_write_failures: list[tuple[str, Any]] = []
        self._deferred_words = 0
        self._device_xp: Any = None  # the array module those masks live in

    # Deferred masks are settled at the latest when this many words (64 MiB of 64-bit words) or this many
    # arrays (each takes at least one block of the GPU's memory pool) are held, so a long epoch cannot fill
    # the GPU's memory with them.
    _MAX_DEFERRED_WORDS = 1 << 23
    _MAX_DEFERRED_ARRAYS = 4096

    def defer_write_failures(self, phase: str, xp: Any, failed_masks: Any) -> None:
        """Record a device array of failed-switch masks (one word each) to be counted by :meth:`settle_counts`."""
        self._device_xp = xp
        self._deferred_write_failures.append((phase, failed_masks))
        self._deferred_words += len(failed_masks)
        if (self._deferred_words >= self._MAX_DEFERRED_WORDS
                or len(self._deferred_write_failures) >= self._MAX_DEFERRED_ARRAYS):
            self.settle_counts()

    def settle_counts(self) -> None:
        """Add the failed switches recorded on the device to the counters: one transfer for all of them.

        Counting each write's failures as it happens would make the host wait for the GPU at every write.
        """
        if not self._deferred_write_failures:
            return
        xp = self._device_xp
        by_phase: dict[str, list[Any]] = defaultdict(list)
        for phase, masks in self._deferred_write_failures:
            by_phase[phase].append(masks)
        self._deferred_write_failures, self._deferred_words = [], 0
        for phase, arrays in by_phase.items():
            masks = xp.concatenate(arrays)
            # count per bit position where the masks are, and bring back one small array
            per_bit = xp.stack([((masks >> bit) & 1).sum() for bit in range(8 * masks.dtype.itemsize)])
            per_bit = (per_bit.get() if xp is not np else per_bit).tolist()
            counters = self.counters[phase]
            counters.flips["write"] += sum(per_bit)
            for bit, count in enumerate(per_bit):
                counters.bit_flips[bit] += count

    def phase_totals(self) -> dict[str, AccessCounters]:
        """Per phase, everything this memory did: its own counters plus those of the layers it held."""
        totals: dict[str, AccessCounters] = {}
        for phase, counters in self.counters.items():
            totals[phase] = AccessCounters(bit_fields=counters.bit_fields)
            totals[phase].add(counters)
        for (phase, _layer), counters in self.layer_counters.items():
            totals.setdefault(phase, AccessCounters(bit_fields=counters.bit_fields)).add(counters)
        return totals

    def stream_names(self, role: str) -> tuple[str, ...]:
        """Names keying the random streams of a new arena of ``role``.

        A role that leaves this memory and comes back gets a fresh arena; numbering the arenas keeps it from
        replaying the faults its predecessor saw.
        """
        generation = self._arenas_made[role]
        self._arenas_made[role] += 1
        return (self.name, role) if generation == 0 else (self.name, role, f"arena{generation}")


# Arena attributes that describe the physical cells (stuck map, wear), carried over when a role returns.
_CELL_STATE = ("_stuck_words", "_stuck_and", "_stuck_or", "_wear", "_wear_rng", "_write_counts", "_writes",
               "_pending_cells", "_pending_lifetimes", "_next_death", "_weak")
_FEW = 32  # up to this many hits, the element-by-element path is the cheaper one


class Arena:
    """The flat buffer of one tensor role in one memory.

    ``words`` holds the data bits as stored (on the array backend). Check bits are not materialized: a word's
    stored check bits are the code's check bits of the value last written to it, XOR the check-bit part of
    its *damage* pattern. ``damage_words``/``damage_masks`` (host, sorted) record, for every word flipped since
    it was last written, which codeword bits differ from what was written; decoding works on that pattern
    alone because the codes are linear.
    """

    def __init__(self, role: str, n_values: int, memory: Memory, xp: Any, clock: SimClock, phase: list[str],
                 layer: str | None = None):
        self.role = role
        self.layer = layer  # with a per-layer placement, the layer whose counters this arena's accesses go to
        self.n_values = n_values
        self.memory = memory
        self.xp = xp
        self.clock = clock
        self._phase = phase  # shared one-element list: the current phase name
        self.format = memory.format
        self.code = make_code(memory.params.protection, self.format.bits)
        self.code_bits = self.code.codeword_bits
        self.data_bits = self.format.bits
        self._data_mask = np.uint64((1 << self.data_bits) - 1)
        self.n_bits = n_values * self.code_bits
        self.words = xp.zeros(n_values, dtype=self.format.word_dtype)
        # int8 keeps one scale per write; a per-value copy lets a read span several writes.
        self._value_scale = np.ones(n_values, dtype=np.float32) if self.format.name == "int8" else None
        errors = memory.errors
        self._errors = errors
        self._write_p = max(errors.write_ber_0to1, errors.write_ber_1to0, errors.write_ber_hold)
        self._write_uniform = errors.write_ber_0to1 == errors.write_ber_1to0 == errors.write_ber_hold
        # the usual STT-MRAM case: both switches fail alike and holding cells never do
        self._write_switch_only = errors.write_ber_hold == 0.0 and errors.write_ber_0to1 == errors.write_ber_1to0
        self._retention_rate = max(errors.retention_rate_0to1_per_s, errors.retention_rate_1to0_per_s)
        self._sanity = memory.params.protection == "sanity"
        # few hits on host words without check bits are applied element by element (see _flip_few)
        self._scalar_path = xp is np and not self.code.check_bits
        if self._scalar_path:
            self._word_view = memoryview(self.words)  # plain-int element access, ~3x cheaper than NumPy scalars
            self._word_shift = self.code_bits.bit_length() - 1  # without check bits the width is 8, 16 or 32
        # switch-only writes on such words run in compiled code where it was built (same draws, same result)
        self._compiled_switches = _fastpath is not None and self._scalar_path and self._write_switch_only
        # on a GPU, which candidates switch is decided on the device (no host round trip per write)
        self._device_switches = xp is not np and not self.code.check_bits and self._write_switch_only
        self._sanity_bound = memory.params.sanity_bound
        names = memory.stream_names(role)
        self._streams = {event: faults.BernoulliStream(faults.stream_rng(memory.seed, *names, event)) for event in EVENTS}
        self._write_stream = self._streams["write"]
        self._disturb_stream = self._streams["read_disturb"]
        self._accept_rng = faults.stream_rng(memory.seed, *names, "accept")
        self._retention_events = faults.PoissonStream(faults.stream_rng(memory.seed, *names, "retention-events"))
        self.damage_words = np.empty(0, dtype=np.int64)
        self.damage_masks = np.empty(0, dtype=np.uint64)
        # Retention events come at ``hazard`` per second of simulated time; the time of the next one is kept so
        # that an access with none due costs one comparison.
        self._retention_hazard_per_s = self.n_bits * self._retention_rate
        self._retention_origin_s = clock.now_s
        self._retention_due_s = (clock.now_s + self._retention_events.next_at / self._retention_hazard_per_s
                                 if self._retention_rate > 0.0 else math.inf)
        self._counters_phase: str | None = None
        self._counters = AccessCounters()
        self._time_cache: dict[tuple[int, bool], float] = {}
        # The cells themselves persist: a role that comes back to this memory finds the same stuck cells and
        # the same wear (only its random event streams are new).
        previous = memory.arena_of_role.get(role)
        memory.arena_of_role[role] = self
        if previous is not None and previous.n_values == n_values:
            for attribute in _CELL_STATE:
                if hasattr(previous, attribute):
                    setattr(self, attribute, getattr(previous, attribute))
            return
        # Stuck cells: per word, an AND mask that clears the stuck bits and an OR mask that sets those stuck at 1.
        self._stuck_words = np.empty(0, dtype=np.int64)
        self._stuck_and = np.empty(0, dtype=np.uint64)
        self._stuck_or = np.empty(0, dtype=np.uint64)
        self._draw_stuck_map(names)
        weak = errors.weak_cells
        self._weak = None if weak is None or not weak.active else WeakCells(
            names, memory.seed, self.n_bits, self.code_bits, self.data_bits, weak,
            (errors.write_ber_0to1, errors.write_ber_1to0, errors.write_ber_hold), self._retention_rate)
        self._wear = None
        if errors.endurance_writes > 0.0:
            self._wear = faults.WeakestCells(faults.stream_rng(memory.seed, *names, "wear-out"), self.n_bits,
                                             errors.endurance_writes, errors.endurance_sigma_ln)
            self._wear_rng = faults.stream_rng(memory.seed, *names, "wear-out-value")
            self._write_counts = np.zeros(n_values, dtype=np.int64)
            self._writes = 0
            self._pending_cells = np.empty(0, dtype=np.int64)
            self._pending_lifetimes = np.empty(0, dtype=np.float64)
            self._next_death = self._wear.next_lifetime

    # --- bookkeeping ------------------------------------------------------------------------------
    @property
    def counters(self) -> AccessCounters:
        """This memory's counters for the current phase, with every failure counted."""
        self.memory.settle_counts()
        return self._phase_counters

    @property
    def _phase_counters(self) -> AccessCounters:
        """:attr:`counters` without settling failures still on the device (for the accesses themselves)."""
        phase = self._phase[0]
        if phase is not self._counters_phase:  # cached: looked up once per phase, not per access
            counters = self.memory.counters if self.layer is None else None
            self._counters_phase = phase
            self._counters = counters[phase] if counters is not None else self.memory.layer_counters[(phase, self.layer)]
        return self._counters

    def _access_time_s(self, n_bits: int, write: bool) -> float:
        key = (n_bits, write)
        seconds = self._time_cache.get(key)
        if seconds is None:
            latency = self.memory.latency
            seconds = latency.write_time_s(n_bits) if write else latency.read_time_s(n_bits)
            self._time_cache[key] = seconds
        return seconds

    def _count_flips(self, event: str, bits: np.ndarray) -> None:
        """Count flips of ``event`` at codeword bit positions ``bits`` (position modulo the codeword width)."""
        counters = self._phase_counters
        counters.flips[event] += len(bits)
        histogram = counters.bit_flips
        if len(bits) <= 64:  # the usual few hits: a Python loop beats a numpy round trip
            for bit in bits.tolist():
                histogram[bit] += 1
        else:
            for bit, count in enumerate(np.bincount(bits, minlength=self.code_bits).tolist()):
                histogram[bit] += count

    def _add_damage(self, words: np.ndarray, masks: np.ndarray) -> None:
        self.damage_words, self.damage_masks = faults.merge_masks(self.damage_words, self.damage_masks, words, masks)

    def _damage_in(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        if not len(self.damage_words):
            return self.damage_words, self.damage_masks
        lo, hi = np.searchsorted(self.damage_words, [start, stop])
        return self.damage_words[lo:hi], self.damage_masks[lo:hi]

    def _damage_of(self, words: np.ndarray) -> np.ndarray:
        """The damage pattern of each of ``words`` (0 for clean words); ``words`` may repeat."""
        if not len(self.damage_words):
            return np.zeros(len(words), dtype=np.uint64)
        idx = np.minimum(np.searchsorted(self.damage_words, words), len(self.damage_words) - 1)
        return np.where(self.damage_words[idx] == words, self.damage_masks[idx], np.uint64(0))

    def _codewords(self, words: np.ndarray) -> np.ndarray:
        """The stored codewords (data bits, then check bits) of ``words``, as uint64 on the host."""
        stored = faults.gather_words(self.xp, self.words, words)
        if not self.code.check_bits:
            return stored
        damage = self._damage_of(words)
        written = stored ^ (damage & self._data_mask)
        checks = self.code.check_values(written) ^ (damage >> np.uint64(self.data_bits))
        return stored | (checks << np.uint64(self.data_bits))

    def _stored_bits(self, words: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Current stored value (0/1) of codeword bit ``bits`` of word ``words`` (per hit)."""
        return ((self._codewords(words) >> bits.astype(np.uint64)) & _ONE).astype(np.int64)

    def _thin(self, positions: np.ndarray, p_candidate: float, p_of_hit: np.ndarray) -> np.ndarray:
        """Keep each candidate with probability p_of_hit / p_candidate.

        Candidates were drawn at ``p_candidate``; keeping each with its own ratio makes every bit exactly
        Bernoulli(p_of_hit). The ratio is >= ~1e-9 in practice, so float64 uniforms (2^-53 step) are exact.
        """
        keep = self._accept_rng.random(len(positions)) * p_candidate < p_of_hit
        return positions[keep]

    def _apply_stored_flips(self, event: str, positions: np.ndarray | list[int], offset_words: int = 0) -> None:
        """Flip stored cells at sorted, distinct codeword-bit ``positions`` (relative to word ``offset_words``)."""
        if len(positions) == 0:
            return
        if isinstance(positions, list):  # from the element-by-element path
            if not len(self._stuck_words):
                self._flip_few(event, positions, offset_words)
                return
            positions = np.array(positions, dtype=np.int64)
        if len(self._stuck_words):  # a stuck cell holds its value whatever happens to it
            positions = self._not_stuck(positions, offset_words)
            if len(positions) == 0:
                return
        if self._scalar_path and len(positions) <= _FEW:
            self._flip_few(event, positions.tolist(), offset_words)
            return
        words, bits = np.divmod(positions, self.code_bits)
        self._count_flips(event, bits)
        words += offset_words
        if self.code.check_bits:
            # Damage is only needed to decode check bits; without a code the stored words say it all.
            word_index, masks = faults.word_masks(positions, self.code_bits)
            self._add_damage(word_index + offset_words, masks)
            data = bits < self.data_bits
            words, bits = words[data], bits[data]
        if self.xp is np:
            # XOR is order-free, so an unbuffered scatter handles two hits in one word without grouping
            np.bitwise_xor.at(self.words, words, np.left_shift(1, bits).astype(self.words.dtype))
        else:
            word_index, masks = faults.word_masks(words * self.code_bits + bits, self.code_bits)
            faults.xor_words(self.xp, self.words, word_index, masks)

    def _flip_few(self, event: str, positions: list[int], offset_words: int) -> None:
        """:meth:`_apply_stored_flips` for a handful of hits on NumPy words without check bits, element by element
        (cheaper than a dozen array calls at the few hits per step a low error rate gives)."""
        counters = self._phase_counters
        counters.flips[event] += len(positions)
        histogram, words, shift, low = counters.bit_flips, self._word_view, self._word_shift, self.code_bits - 1
        for position in positions:
            bit = position & low
            histogram[bit] += 1
            word = (position >> shift) + offset_words
            words[word] ^= 1 << bit

    # --- stuck-at cells -------------------------------------------------------------------------------
    def _draw_stuck_map(self, names: tuple[str, ...]) -> None:
        errors = self._errors
        fraction = errors.stuck_at_0_fraction + errors.stuck_at_1_fraction
        if fraction <= 0.0:
            return
        rng = faults.stream_rng(self.memory.seed, *names, "stuck-map")
        positions = faults.BernoulliStream(rng).take(self.n_bits, min(fraction, 1.0))
        at_one = rng.random(len(positions)) * fraction < errors.stuck_at_1_fraction
        self._add_stuck(positions, at_one)

    def _add_stuck(self, positions: np.ndarray, at_one: np.ndarray) -> None:
        """Add stuck cells at absolute codeword-bit ``positions`` (distinct, not stuck yet) to the map."""
        if len(positions) == 0:
            return
        bits = (positions % self.code_bits).astype(np.uint64)
        words = np.concatenate([self._stuck_words, positions // self.code_bits])
        and_masks = np.concatenate([self._stuck_and, ~(_ONE << bits)])
        or_masks = np.concatenate([self._stuck_or, np.where(at_one, _ONE << bits, np.uint64(0))])
        order = np.argsort(words, kind="stable")
        words, and_masks, or_masks = words[order], and_masks[order], or_masks[order]
        unique_words, starts = np.unique(words, return_index=True)
        self._stuck_words = unique_words
        self._stuck_and = np.bitwise_and.reduceat(and_masks, starts)
        self._stuck_or = np.bitwise_or.reduceat(or_masks, starts)

    def stuck_cells(self) -> tuple[np.ndarray, np.ndarray]:
        """(absolute codeword-bit positions, stuck values 0/1) of every stuck cell, sorted by position."""
        stuck = ~self._stuck_and
        bit_index = np.arange(self.code_bits, dtype=np.uint64)
        hit = ((stuck[:, None] >> bit_index[None, :]) & _ONE).astype(bool)
        positions = (self._stuck_words[:, None] * self.code_bits + np.arange(self.code_bits)[None, :])[hit]
        values = ((self._stuck_or[:, None] >> bit_index[None, :]) & _ONE)[hit].astype(np.int64)
        return positions, values

    def _not_stuck(self, positions: np.ndarray, offset_words: int) -> np.ndarray:
        words = positions // self.code_bits + offset_words
        idx = np.minimum(np.searchsorted(self._stuck_words, words), len(self._stuck_words) - 1)
        stuck = np.where(self._stuck_words[idx] == words, ~self._stuck_and[idx], np.uint64(0))
        is_stuck = ((stuck >> (positions % self.code_bits).astype(np.uint64)) & _ONE).astype(bool)
        return positions[~is_stuck]

    def _apply_stuck(self, start: int, stop: int) -> None:
        """Force the stuck cells of words [start, stop) to their stuck values (after a write)."""
        if not len(self._stuck_words):
            return
        lo, hi = np.searchsorted(self._stuck_words, [start, stop])
        if lo == hi:
            return
        words = self._stuck_words[lo:hi]
        codeword = self._codewords(words)
        forced = (codeword & self._stuck_and[lo:hi]) | self._stuck_or[lo:hi]
        damage = codeword ^ forced
        hit = damage != 0
        if not hit.any():
            return
        words, damage = words[hit], damage[hit]
        bit_index = np.arange(self.code_bits, dtype=np.uint64)
        flipped = ((damage[:, None] >> bit_index[None, :]) & _ONE).astype(bool)
        positions = (words[:, None] * self.code_bits + np.arange(self.code_bits)[None, :])[flipped]
        self._count_flips("stuck", positions % self.code_bits)
        data = damage & self._data_mask
        faults.xor_words(self.xp, self.words, words[data != 0], data[data != 0])
        self._add_damage(words, damage)

    def _wear_out(self) -> None:
        """Cells whose words have now been written as often as they endure become stuck."""
        new_cells, new_lifetimes = self._wear.take_until(self._writes)
        cells = np.concatenate([self._pending_cells, new_cells])
        lifetimes = np.concatenate([self._pending_lifetimes, new_lifetimes])
        dead = self._write_counts[cells // self.code_bits] >= lifetimes
        if dead.any():
            dying = cells[dead]
            if len(self._stuck_words):  # a cell already stuck from the start stays as it is
                dying = self._not_stuck(dying, 0)
            at_one = self._wear_rng.random(len(dying)) < self._errors.wearout_stuck_at_1_fraction
            order = np.argsort(dying)
            self._add_stuck(dying[order], at_one[order])
            self._phase_counters.cells_worn_out += len(dying)
        self._pending_cells, self._pending_lifetimes = cells[~dead], lifetimes[~dead]
        self._next_death = min(self._pending_lifetimes.min(initial=np.inf), self._wear.next_lifetime)

    # --- time-dependent retention -------------------------------------------------------------------
    def _apply_retention(self) -> None:
        now = self.clock.now_s
        if now < self._retention_due_s:
            return
        hazard, origin = self._retention_hazard_per_s, self._retention_origin_s
        count = self._retention_events.take_until((now - origin) * hazard)
        self._retention_due_s = origin + self._retention_events.next_at / hazard
        if count == 0:
            return
        errors = self._errors
        events = self._retention_events.positions(count, self.n_bits)
        # Uniformization: candidate events come at the largest rate; each flips its bit with probability
        # (rate of the bit's current state) / (largest rate). Events on one bit apply in order, in rounds of
        # distinct bits, so two events on a bit flip it twice (no silent cancellation of the count).
        while len(events):
            _, first = np.unique(events, return_index=True)
            first.sort()
            batch = events[first]
            events = np.delete(events, first)
            if errors.retention_rate_0to1_per_s != errors.retention_rate_1to0_per_s:
                current = self._stored_bits(batch // self.code_bits, batch % self.code_bits)
                rate = np.where(current == 1, errors.retention_rate_1to0_per_s, errors.retention_rate_0to1_per_s)
                batch = self._thin(batch, self._retention_rate, rate)
            self._apply_stored_flips("retention", np.sort(batch))

    # --- weak cells (memtech.weak_cells) -----------------------------------------------------------------
    def _data_bits_at(self, words: Any, cells: np.ndarray, offset_words: int = 0) -> np.ndarray:
        """The data bits (0/1) at codeword-bit positions ``cells`` of ``words`` (word 0 = ``offset_words``)."""
        index, bits = np.divmod(cells, self.code_bits)
        values = faults.gather_words(self.xp, words, index - offset_words)
        return ((values >> bits.astype(np.uint64)) & _ONE).astype(np.int64)

    def _correct_weak_writes(self, cells: np.ndarray, old: np.ndarray, new: np.ndarray) -> None:
        """Give the weak cells just written their own write error rate (see memtech.weak_cells)."""
        stored = self._data_bits_at(self.words, cells)
        flip = self._weak.write_corrections(old, new, stored)
        if not flip.any():
            return
        set_right = flip & (stored != new)
        self._apply_stored_flips("write", cells[flip])
        # A cell set right undoes a failure counted as a flip: take back that count and this one.
        if set_right.any():
            counters = self._phase_counters
            counters.flips["write"] -= 2 * int(set_right.sum())
            for bit in (cells[set_right] % self.code_bits).tolist():
                counters.bit_flips[bit] -= 2

    def _apply_weak_retention(self) -> None:
        events = self._weak.retention_events(self.clock.now_s)
        while len(events):  # in rounds of distinct cells, as in _apply_retention
            _, first = np.unique(events, return_index=True)
            first.sort()
            self._apply_stored_flips("retention", np.sort(events[first]))
            events = np.delete(events, first)

    # --- the two accesses ---------------------------------------------------------------------------
    def write(self, values: Any, start: int = 0) -> None:
        """Store float32 ``values`` at value offset ``start``, through write errors and stuck cells."""
        xp = self.xp
        n = int(values.size)
        stop = start + n
        if self.clock.now_s >= self._retention_due_s:
            self._apply_retention()  # bring the old contents up to now before they are overwritten
        weak_cells = weak_old = None
        if self._weak is not None:
            self._apply_weak_retention()
            weak_cells = self._weak.data_cells_in(start, stop)
            weak_old = self._data_bits_at(self.words, weak_cells) if len(weak_cells) else None
        new_words, scale = self.format.encode(xp, values.reshape(-1))
        n_bits = n * self.code_bits
        counters = self._phase_counters
        counters.bits_written += n_bits
        seconds = self._access_time_s(n_bits, True)
        counters.write_time_s += seconds
        self.clock.advance(seconds)

        # Which path draws and applies the write errors; every path gives the same faults for a seed (pinned
        # by tests/test_storage_pinned.py):
        #   no candidate failure among these bits: one comparison;
        #   switch-only errors on host words without check bits: compiled (memtech._fastpath) where built;
        #   a few candidates on such words otherwise: element by element in Python;
        #   switch-only errors on a GPU: decided on the device, counted later;
        #   anything else (check bits, stuck cells, asymmetric rates): array operations on the host.
        p = self._write_p
        failed_switches = None
        stored = False  # whether the new words are already in place
        if p == 0.0 or self._write_stream.skip(n_bits, p):
            hits = faults.EMPTY_POSITIONS
        elif (self._compiled_switches and not len(self._stuck_words)
              and (pending := self._write_stream.pending(n_bits, p)) is not None):
            buffer, index, first = pending
            next_index, next_hit, failed = _fastpath.switch_only_write(
                buffer, index, first, self.words, new_words, start, self._word_shift, counters.bit_flips)
            self._write_stream.advance(n_bits, next_index, next_hit)
            counters.flips["write"] += failed
            hits, stored = faults.EMPTY_POSITIONS, True
        elif self._scalar_path and n_bits * p <= _FEW:
            first, hits = self._write_stream.take_span(n_bits, p)
            if not hits:
                pass
            elif self._write_switch_only and len(hits) <= _FEW and not len(self._stuck_words):
                failed_switches, hits = self._failed_switches(hits, first, new_words, start, counters), []
            else:
                hits = [hit - first for hit in hits]
                if self._write_uniform:
                    pass
                elif len(hits) > _FEW or self._write_switch_only:
                    hits = self._failed_writes(np.array(hits, dtype=np.int64), new_words, start)
                else:
                    hits = self._failed_writes_few(hits, new_words, start)
        elif self._device_switches and not len(self._stuck_words):
            self._device_switch_write(self._write_stream.take(n_bits, p), new_words, start)
            hits, stored = faults.EMPTY_POSITIONS, True
        else:
            hits = self._write_stream.take(n_bits, p)
            if len(hits) and not self._write_uniform:
                hits = self._failed_writes(hits, new_words, start)

        if not stored:
            self.words[start:stop] = new_words
        if self._value_scale is not None:
            self._value_scale[start:stop] = scale
        if len(self.damage_words):  # freshly written words are clean
            lo, hi = np.searchsorted(self.damage_words, [start, stop])
            if lo != hi:
                self.damage_words = np.concatenate([self.damage_words[:lo], self.damage_words[hi:]])
                self.damage_masks = np.concatenate([self.damage_masks[:lo], self.damage_masks[hi:]])
        if failed_switches:
            words = self._word_view
            for word, mask in failed_switches:
                words[word] ^= mask  # the bit that failed to switch keeps its old value
        elif len(hits):
            if self._scalar_path and type(hits) is list and not len(self._stuck_words):
                self._flip_few("write", hits, start)
            else:
                self._apply_stored_flips("write", hits, offset_words=start)
        if weak_old is not None:
            self._correct_weak_writes(weak_cells, weak_old, self._data_bits_at(new_words, weak_cells, start))
        if self._wear is not None:
            self._write_counts[start:stop] += 1
            self._writes += 1
            if self._writes >= self._next_death:
                self._wear_out()
        self._apply_stuck(start, stop)

    def _device_switch_write(self, candidates: np.ndarray, new_words: Any, start: int) -> None:
        """Store ``new_words`` at ``start`` with switch-only write errors at ``candidates``, all on the device.

        A candidate bit fails exactly when it switches, and a failed bit keeps its old value, so each word
        becomes ``new ^ ((old ^ new) & candidate_mask)``: the host only sends the candidates and never waits
        for the GPU. The failures are counted later (:meth:`Memory.settle_counts`).
        """
        xp = self.xp
        stop = start + len(new_words)
        if not len(candidates):
            self.words[start:stop] = new_words
            return
        word_index, masks = faults.word_masks(candidates, self.code_bits)
        relative = xp.asarray(word_index)
        absolute = relative + start
        failed = (self.words[absolute] ^ new_words[relative]) & xp.asarray(masks.astype(self.words.dtype))
        self.words[start:stop] = new_words
        self.words[absolute] ^= failed  # word indices are distinct
        self.memory.defer_write_failures(self._phase[0], xp, failed)

    def _failed_writes(self, hits: np.ndarray, new_words: Any, start: int) -> np.ndarray:
        """Thin candidate hits (drawn at the largest write rate) to the cells that fail by their own transition:
        a failed switch (0->1 or 1->0), or a flip while holding."""
        errors = self._errors
        words, bits = np.divmod(hits, self.code_bits)
        if self.code.check_bits:
            old = self._stored_bits(words + start, bits)
            new = self._new_bits(faults.gather_words(self.xp, new_words, words), bits)
        else:
            shift = bits.astype(np.uint64)
            old = (faults.gather_words(self.xp, self.words, words + start) >> shift) & _ONE
            new = (faults.gather_words(self.xp, new_words, words) >> shift) & _ONE
        if self._write_switch_only:
            return hits[old != new]  # a switching cell fails at the candidate rate itself: no thinning draw
        p_of_hit = np.where(old == new, errors.write_ber_hold,
                            np.where(new == 1, errors.write_ber_0to1, errors.write_ber_1to0))
        return self._thin(hits, self._write_p, p_of_hit)

    def _failed_writes_few(self, candidates: list[int], new_words: np.ndarray, start: int) -> list[int]:
        """:meth:`_failed_writes` element by element, for a handful of hits (same draws, same result); the
        switch-only case needs no draw and is :meth:`_failed_switches`."""
        words, new_words = self._word_view, memoryview(new_words)
        shift, low = self._word_shift, self.code_bits - 1
        errors = self._errors
        uniforms = self._accept_rng.random(len(candidates)).tolist()  # the draws the array path makes
        kept = []
        for hit, uniform in zip(candidates, uniforms):
            word, bit = hit >> shift, hit & low
            old = (words[word + start] >> bit) & 1
            new = (new_words[word] >> bit) & 1
            p_of_hit = errors.write_ber_hold if old == new else (errors.write_ber_0to1 if new else errors.write_ber_1to0)
            if uniform * self._write_p < p_of_hit:
                kept.append(hit)
        return kept

    def _failed_switches(self, candidates: list[int], first: int, new_words: np.ndarray, start: int,
                         counters: AccessCounters) -> list[tuple[int, int]]:
        """Switch-only write errors of a handful of candidates on NumPy words without check bits or stuck cells.

        ``candidates`` are stream positions; ``first`` is the stream position of the write's bit 0. A candidate
        fails exactly when its bit changes value (no draw needed). The failures are counted here
        and returned as (word, mask) pairs for the caller to XOR into the words once written, which puts each
        failed bit back to its old value. This is the hot loop of a faulty write at low error rates (~15
        candidates per write of the default MLP's weights at 1e-4); an explicit loop over plain ints is the
        cheapest form measured.
        """
        old, new, shift, low = self._word_view, memoryview(new_words), self._word_shift, self.code_bits - 1
        histogram = counters.bit_flips
        failed = []
        if start == 0:  # the usual whole-tensor write; the loop is hot enough for the specialization to show
            for hit in candidates:
                hit -= first
                word = hit >> shift
                bit = hit & low
                if (old[word] ^ new[word]) >> bit & 1:
                    histogram[bit] += 1
                    failed.append((word, 1 << bit))
        else:
            for hit in candidates:
                hit -= first
                word = hit >> shift
                bit = hit & low
                if (old[word + start] ^ new[word]) >> bit & 1:
                    histogram[bit] += 1
                    failed.append((word + start, 1 << bit))
        counters.flips["write"] += len(failed)
        return failed

    def _new_bits(self, new_data: np.ndarray, bits: np.ndarray) -> np.ndarray:
        codeword = new_data | (self.code.check_values(new_data) << np.uint64(self.data_bits))
        return ((codeword >> bits.astype(np.uint64)) & _ONE).astype(np.int64)

    def _scale(self, start: int, stop: int) -> Any:
        if self._value_scale is None:
            return 1.0
        scales = self._value_scale[start:stop]
        if len(scales) == 0 or scales.min() == scales.max():
            return float(scales[0]) if len(scales) else 1.0
        return self.xp.asarray(scales)

    def read(self, start: int = 0, stop: int | None = None) -> Any:
        """The float32 values at [start, stop), as the processor receives them.

        The result may be a view of the stored words: treat it as read-only.
        """
        xp, errors = self.xp, self._errors
        stop = self.n_values if stop is None else stop
        n_bits = (stop - start) * self.code_bits
        counters = self._phase_counters
        counters.bits_read += n_bits
        seconds = self._access_time_s(n_bits, False)
        counters.read_time_s += seconds
        self.clock.advance(seconds)
        if self.clock.now_s >= self._retention_due_s:
            self._apply_retention()
        if self._weak is not None:
            self._apply_weak_retention()
        disturb_p = errors.read_disturb_ber
        if disturb_p > 0.0 and not self._disturb_stream.skip(n_bits, disturb_p):
            self._apply_stored_flips("read_disturb", self._disturb_stream.take(n_bits, disturb_p), start)
        words = self.words[start:stop]
        damage_words, damage_masks = self._damage_in(start, stop)
        sense = faults.EMPTY_POSITIONS
        if errors.read_sense_ber > 0.0:
            sense = self._streams["read_sense"].take(n_bits, errors.read_sense_ber)
        if len(sense) or (self.code.check_bits and len(damage_words)):
            damage_words = damage_words - start
            words = words.copy()
            if len(sense):
                # A sensing error corrupts the value read, check bits included, never the stored cell.
                self._count_flips("read_sense", sense % self.code_bits)
                sense_words, sense_masks = faults.word_masks(sense, self.code_bits)
                data = sense_masks & self._data_mask
                faults.xor_words(xp, words, sense_words[data != 0], data[data != 0])
                damage_words, damage_masks = faults.merge_masks(damage_words, damage_masks, sense_words, sense_masks)
            if self.code.check_bits and len(damage_words):
                self._correct(words, damage_words, damage_masks, counters)
        values = self.format.decode(xp, words, self._scale(start, stop))
        if self._sanity:
            values = self._sanity_check(values, counters)
        return values

    def _correct(self, words: Any, damage_words: np.ndarray, damage_masks: np.ndarray,
                 counters: AccessCounters | None) -> None:
        """Apply the code's decoding to ``words`` (a copy) in place: correct what it corrects, zero what it only
        detects; ``damage_words`` are indices into ``words``. Counted unless ``counters`` is None."""
        outcome, correction = self.code.decode(damage_masks)
        fix = (outcome == CORRECTED) & (correction != 0)
        faults.xor_words(self.xp, words, damage_words[fix], correction[fix])
        zero = outcome == ZEROED
        if zero.any():
            words[self.xp.asarray(damage_words[zero])] = 0
        if counters is not None:
            counters.errors_corrected += int((outcome == CORRECTED).sum())
            counters.errors_detected += int(zero.sum())
            counters.values_zeroed += int(zero.sum())

    def _sanity_check(self, values: Any, counters: AccessCounters | None) -> Any:
        xp = self.xp
        bad = ~(xp.abs(values) <= self._sanity_bound)  # NaN compares false: caught with the infinities
        n_bad = int(bad.sum())
        if n_bad:
            values = xp.where(bad, xp.float32(0), values)
            if counters is not None:
                counters.errors_detected += n_bad
                counters.values_zeroed += n_bad
        return values

    def peek(self) -> Any:
        """The values as a read of this memory returns them (parity, SECDED and sanity decoding applied) without
        an access: nothing is counted, no time passes, no random event is drawn (a read's sensing errors are
        per read, so they are not part of what the memory holds). Evaluation, the stored model and
        ``memtech predict`` use these values."""
        words = self.words
        if self.code.check_bits and len(self.damage_words):
            words = words.copy()
            self._correct(words, self.damage_words, self.damage_masks, None)
        values = self.format.decode(self.xp, words, self._scale(0, self.n_values)).copy()
        if self._sanity:
            values = self._sanity_check(values, None)
        return values


def layer_memories(placement: Mapping[str, Any], role: str, n_layers: int) -> tuple[str, ...]:
    """The memory of each parameter layer's part of ``role`` under ``placement``: the role's own memory,
    unless ``placement["layers"]`` ({memory: [layer indices]}, negative indices from the end) names another."""
    memories = [placement[role]] * n_layers
    for memory, indices in (placement.get("layers") or {}).items():
        for index in indices:
            memories[index] = memory
    return tuple(memories)


class SplitArena:
    """One role held layer by layer, each layer's values in an arena of their own (in the memory the
    placement names for that layer), read and written as one flat buffer. Each layer's arena keys its fault
    streams by the layer and counts its accesses as that layer's, so accounting can be read per layer."""

    def __init__(self, role: str, slices: Sequence[tuple[int, int]], memories: Sequence[Memory], xp: Any,
                 clock: SimClock, phase: list[str]):
        self.role = role
        self.xp = xp
        self.n_values = slices[-1][1]
        self.slices = list(slices)
        self.parts = [Arena(f"{role}.layer{j}", stop - start, memory, xp, clock, phase, layer=f"layer{j}")
                      for j, ((start, stop), memory) in enumerate(zip(slices, memories))]
        self.memory_names = tuple(memory.name for memory in memories)

    def _overlaps(self, start: int, stop: int):
        for (first, last), part in zip(self.slices, self.parts):
            lo, hi = max(start, first), min(stop, last)
            if lo < hi:
                yield lo, hi, first, part

    def read(self, start: int = 0, stop: int | None = None) -> Any:
        stop = self.n_values if stop is None else stop
        pieces = [part.read(lo - first, hi - first) for lo, hi, first, part in self._overlaps(start, stop)]
        return pieces[0] if len(pieces) == 1 else self.xp.concatenate(pieces)

    def write(self, values: Any, start: int = 0) -> None:
        values = values.reshape(-1)  # a trainer may hand its (1, n) buffer
        for lo, hi, first, part in self._overlaps(start, start + len(values)):
            part.write(values[lo - start:hi - start], lo - first)

    def peek(self) -> Any:
        return self.xp.concatenate([part.peek() for part in self.parts])


class TensorStore:
    """All arenas of a run and the placement of each role in the current phase.

    ``layer_slices`` gives, per role a trainer stores layer by layer (weights, biases), each parameter layer's
    (start, stop) in one replica's buffer; a placement with ``layers`` then holds that role as a
    :class:`SplitArena`.
    """

    def __init__(self, sizes: Mapping[str, int], memories: Mapping[str, Memory], xp: Any, clock: SimClock,
                 layer_slices: Mapping[str, Sequence[tuple[int, int]]] | None = None):
        self.sizes = {role: int(n) for role, n in sizes.items() if n > 0}
        self.memories = dict(memories)
        self.xp = xp
        self.clock = clock
        self.layer_slices = {role: list(s) for role, s in (layer_slices or {}).items()}
        self._phase = [""]
        self.arenas: dict[str, Arena | SplitArena] = {}
        self._in_use: tuple[str, ...] = ()

    def _placed(self, role: str, placement: Mapping[str, Any]) -> str | tuple[str, ...]:
        """Where ``role`` goes: one memory's name, or with a per-layer placement one name per layer."""
        if placement.get("layers") and role in self.layer_slices:
            return layer_memories(placement, role, len(self.layer_slices[role]))
        return placement[role]

    def _new_arena(self, role: str, n_values: int, target: str | tuple[str, ...]) -> Arena | SplitArena:
        if isinstance(target, tuple):
            return SplitArena(role, self.layer_slices[role], [self.memories[m] for m in target], self.xp,
                              self.clock, self._phase)
        return Arena(role, n_values, self.memories[target], self.xp, self.clock, self._phase)

    @staticmethod
    def _where(arena: Arena | SplitArena) -> str | tuple[str, ...]:
        return arena.memory_names if isinstance(arena, SplitArena) else arena.memory.name

    @property
    def phase(self) -> str:
        return self._phase[0]

    def enter_phase(self, phase: str, placement: Mapping[str, str], initial: Mapping[str, Any] | None = None) -> None:
        """Place every role for ``phase``; a role that moves is read from its old memory and written to the new."""
        self._phase[0] = phase
        for role, n_values in self.sizes.items():
            target = self._placed(role, placement)
            current = self.arenas.get(role)
            if current is not None and self._where(current) == target:
                continue
            arena = self._new_arena(role, n_values, target)
            if current is not None:
                arena.write(current.read())
            elif initial is not None and role in initial:
                arena.write(self.xp.asarray(initial[role], dtype=self.xp.float32))
            self.arenas[role] = arena
        # Placement changes only here, so the per-step leakage charge reads a ready tuple.
        in_use = set()
        for arena in self.arenas.values():
            where = self._where(arena)
            in_use.update(where if isinstance(where, tuple) else (where,))
        self._in_use = tuple(sorted(in_use))

    def read(self, role: str, start: int = 0, stop: int | None = None) -> Any:
        return self.arenas[role].read(start, stop)

    def write(self, role: str, values: Any, start: int = 0) -> None:
        self.arenas[role].write(values, start)

    def peek(self, role: str) -> Any:
        return self.arenas[role].peek()

    def memories_in_use(self) -> tuple[str, ...]:
        """Names of the memories holding data in the current phase (sorted)."""
        return self._in_use

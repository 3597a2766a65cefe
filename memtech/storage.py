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
from typing import Any, Mapping

import numpy as np

from memtech import faults
from memtech.formats import FORMATS
from memtech.memory import MemoryTechnology
from memtech.protection import CORRECTED, ZEROED, make_code

ROLES = ("weights", "biases", "activations", "optimizer")
EVENTS = ("write", "read_sense", "read_disturb", "retention", "stuck")


@dataclass
class AccessCounters:
    """What one memory did during one phase."""

    bits_read: int = 0
    bits_written: int = 0
    read_time_s: float = 0.0
    write_time_s: float = 0.0
    occupied_time_s: float = 0.0  # simulated time during which the memory held data (leakage/refresh)
    flips: dict[str, int] = field(default_factory=lambda: {event: 0 for event in EVENTS})
    flips_by_field: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors_corrected: int = 0
    errors_detected: int = 0
    values_zeroed: int = 0

    @property
    def total_flips(self) -> int:
        return sum(self.flips.values())


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
        self.counters: dict[str, AccessCounters] = defaultdict(AccessCounters)


class Arena:
    """The flat buffer of one tensor role in one memory."""

    def __init__(self, role: str, n_values: int, memory: Memory, xp: Any, clock: SimClock, phase: list[str]):
        self.role = role
        self.n_values = n_values
        self.memory = memory
        self.xp = xp
        self.clock = clock
        self._phase = phase  # shared one-element list: the current phase name
        self.format = memory.format
        self.code = make_code(memory.params.protection, self.format.bits)
        self.code_bits = self.code.codeword_bits
        self.data_bits = self.format.bits
        self.words = xp.zeros(n_values, dtype=self.format.word_dtype)
        self.scales: dict[int, float] = {}
        errors = memory.errors
        self._write_p = max(errors.write_ber_0to1, errors.write_ber_1to0, errors.write_ber_hold)
        self._write_uniform = errors.write_ber_0to1 == errors.write_ber_1to0 == errors.write_ber_hold
        self._retention_rate = max(errors.retention_rate_0to1_per_s, errors.retention_rate_1to0_per_s)
        names = (memory.name, role)
        self._streams = {event: faults.BernoulliStream(faults.stream_rng(memory.seed, *names, event)) for event in EVENTS}
        self._accept_rng = faults.stream_rng(memory.seed, *names, "accept")
        self._retention_events = faults.PoissonStream(faults.stream_rng(memory.seed, *names, "retention-events"))
        # Damage: error patterns over the codeword of each word flipped since it was last written.
        self.damage_words = np.empty(0, dtype=np.int64)
        self.damage_masks = np.empty(0, dtype=np.uint64)
        self._retention_checked_s = clock.now_s
        self._counters_phase: str | None = None
        self._time_cache: dict[tuple[int, bool], float] = {}
        self._stuck_words, self._stuck_and, self._stuck_or, self._stuck_check = self._draw_stuck_map()

    # --- bookkeeping ------------------------------------------------------------------------------
    @property
    def counters(self) -> AccessCounters:
        phase = self._phase[0]
        if phase is not self._counters_phase:  # cached: looked up once per phase, not per access
            self._counters_phase, self._counters = phase, self.memory.counters[phase]
        return self._counters

    def _access_time_s(self, n_bits: int, write: bool) -> float:
        key = (n_bits, write)
        seconds = self._time_cache.get(key)
        if seconds is None:
            latency = self.memory.latency
            seconds = latency.write_time_s(n_bits) if write else latency.read_time_s(n_bits)
            self._time_cache[key] = seconds
        return seconds

    @property
    def n_bits(self) -> int:
        return self.n_values * self.code_bits

    def _count_flips(self, event: str, positions: np.ndarray) -> None:
        counters = self.counters
        counters.flips[event] += len(positions)
        bits = positions % self.code_bits
        for bit, count in zip(*np.unique(bits, return_counts=True)):
            name = "check" if bit >= self.data_bits else self.format.field_of_bit(int(bit))
            counters.flips_by_field[name] += int(count)

    def _add_damage(self, words: np.ndarray, masks: np.ndarray) -> None:
        self.damage_words, self.damage_masks = faults.merge_masks(self.damage_words, self.damage_masks, words, masks)

    def _damage_in(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        if not len(self.damage_words):
            return self.damage_words, self.damage_masks
        lo, hi = np.searchsorted(self.damage_words, [start, stop])
        return self.damage_words[lo:hi], self.damage_masks[lo:hi]

    def _apply_stored_flips(self, event: str, positions: np.ndarray, offset_words: int = 0) -> None:
        """Flip stored cells at codeword-bit ``positions`` (relative to word ``offset_words``)."""
        if len(positions) == 0:
            return
        self._count_flips(event, positions)
        words, masks = faults.word_masks(positions, self.code_bits)
        words = words + offset_words
        data_mask = np.uint64((1 << self.data_bits) - 1)
        data = masks & data_mask
        touched = data != 0
        faults.xor_words(self.xp, self.words, words[touched], data[touched])
        self._add_damage(words, masks)

    # --- stored bit values at given positions, check bits included -------------------------------
    def _stored_bits(self, words: np.ndarray, bits: np.ndarray, intended_words: np.ndarray | None = None) -> np.ndarray:
        """Current stored value (0/1) of codeword bit ``bits`` of word ``words`` (per hit)."""
        stored = faults.gather_words(self.xp, self.words, words)
        values = (stored >> np.minimum(bits, self.data_bits - 1).astype(np.uint64)) & np.uint64(1)
        is_check = bits >= self.data_bits
        if is_check.any():
            idx = np.searchsorted(self.damage_words, words)
            idx = np.minimum(idx, max(len(self.damage_words) - 1, 0))
            has = (len(self.damage_words) > 0) & (self.damage_words[idx] == words) if len(self.damage_words) else np.zeros(len(words), bool)
            damage = np.where(has, self.damage_masks[idx] if len(self.damage_masks) else 0, 0).astype(np.uint64)
            intended = stored ^ (damage & np.uint64((1 << self.data_bits) - 1))
            if intended_words is not None:
                intended = intended_words
            checks = self.code.check_values(intended) ^ (damage >> np.uint64(self.data_bits))
            check_bit = (bits - self.data_bits).clip(0).astype(np.uint64)
            values = np.where(is_check, (checks >> check_bit) & np.uint64(1), values)
        return values.astype(np.int64)

    def _thin(self, positions: np.ndarray, p_candidate: float, p_of_hit: np.ndarray) -> np.ndarray:
        """Keep each candidate with probability p_of_hit / p_candidate (float64 uniforms: fine for ratios)."""
        keep = self._accept_rng.random(len(positions)) * p_candidate < p_of_hit
        return positions[keep]

    # --- stuck-at map -------------------------------------------------------------------------------
    def _draw_stuck_map(self):
        errors = self.memory.errors
        fraction = errors.stuck_at_0_fraction + errors.stuck_at_1_fraction
        empty = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.uint64), None
        if fraction <= 0.0:
            return empty
        rng = faults.stream_rng(self.memory.seed, self.memory.name, self.role, "stuck-map")
        positions = faults.BernoulliStream(rng).take(self.n_bits, min(fraction, 1.0))
        if len(positions) == 0:
            return empty
        stuck_at_one = rng.random(len(positions)) * fraction < errors.stuck_at_1_fraction
        words = positions // self.code_bits
        bits = (positions % self.code_bits).astype(np.uint64)
        one = np.uint64(1)
        and_masks = ~(one << bits)  # clear the cell ...
        or_masks = np.where(stuck_at_one, one << bits, np.uint64(0))  # ... and set it if stuck at 1
        unique_words, starts = np.unique(words, return_index=True)
        and_masks = np.bitwise_and.reduceat(and_masks, starts)
        or_masks = np.bitwise_or.reduceat(or_masks, starts)
        return unique_words, and_masks, or_masks, True

    def _apply_stuck(self, start: int, stop: int) -> None:
        if self._stuck_check is None:
            return
        lo, hi = np.searchsorted(self._stuck_words, [start, stop])
        if lo == hi:
            return
        words = self._stuck_words[lo:hi]
        and_masks, or_masks = self._stuck_and[lo:hi], self._stuck_or[lo:hi]
        stored = faults.gather_words(self.xp, self.words, words)
        checks = self.code.check_values(stored) << np.uint64(self.data_bits)
        codeword = stored | checks
        forced = (codeword & and_masks) | or_masks
        damage = codeword ^ forced
        hit = damage != 0
        if not hit.any():
            return
        words, damage = words[hit], damage[hit]
        positions = (words[:, None] * self.code_bits + np.arange(self.code_bits)[None, :])[
            ((damage[:, None] >> np.arange(self.code_bits, dtype=np.uint64)[None, :]) & np.uint64(1)).astype(bool)
        ]
        self._count_flips("stuck", positions - start * self.code_bits)
        data = damage & np.uint64((1 << self.data_bits) - 1)
        faults.xor_words(self.xp, self.words, words[data != 0], data[data != 0])
        self._add_damage(words, damage)

    # --- time-dependent retention -------------------------------------------------------------------
    def _apply_retention(self) -> None:
        if self._retention_rate == 0.0:
            return
        dt = self.clock.now_s - self._retention_checked_s
        self._retention_checked_s = self.clock.now_s
        count = self._retention_events.take(self.n_bits * self._retention_rate * dt)
        if count == 0:
            return
        errors = self.memory.errors
        events = self._retention_events.positions(count, self.n_bits)
        # Candidate events come at the largest rate; each is kept with (rate of the bit's current state) /
        # (largest rate). Events on the same bit are applied in order, in rounds of distinct bits.
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

    # --- the two accesses ---------------------------------------------------------------------------
    def write(self, values: Any, start: int = 0) -> None:
        """Store float32 ``values`` at value offset ``start``, through write errors and stuck cells."""
        xp, memory = self.xp, self.memory
        n = int(values.size)
        stop = start + n
        self._apply_retention()  # bring the old contents up to now before they are overwritten
        new_words, scale = self.format.encode(xp, values.reshape(-1))
        n_bits = n * self.code_bits
        counters = self.counters
        counters.bits_written += n_bits
        seconds = self._access_time_s(n_bits, True)
        counters.write_time_s += seconds
        self.clock.advance(seconds)

        hits = self._streams["write"].take(n_bits, self._write_p) if self._write_p > 0.0 else faults.EMPTY_POSITIONS
        if len(hits) and not self._write_uniform:
            errors = memory.errors
            words, bits = hits // self.code_bits, hits % self.code_bits
            old = self._stored_bits(words + start, bits)
            new_data = faults.gather_words(xp, new_words, words)
            new = self._new_bits(new_data, bits)
            p_of_hit = np.where(old == new, errors.write_ber_hold,
                                np.where(new == 1, errors.write_ber_0to1, errors.write_ber_1to0))
            hits = self._thin(hits, self._write_p, p_of_hit)

        self.words[start:stop] = new_words
        self.scales[start] = scale
        if len(self.damage_words):  # freshly written words are clean
            lo, hi = np.searchsorted(self.damage_words, [start, stop])
            if lo != hi:
                self.damage_words = np.concatenate([self.damage_words[:lo], self.damage_words[hi:]])
                self.damage_masks = np.concatenate([self.damage_masks[:lo], self.damage_masks[hi:]])
        self._apply_stored_flips("write", hits, offset_words=start)
        self._apply_stuck(start, stop)

    def _new_bits(self, new_data: np.ndarray, bits: np.ndarray) -> np.ndarray:
        data_bit = (new_data >> np.minimum(bits, self.data_bits - 1).astype(np.uint64)) & np.uint64(1)
        checks = self.code.check_values(new_data)
        check_bit = (checks >> (bits - self.data_bits).clip(0).astype(np.uint64)) & np.uint64(1)
        return np.where(bits >= self.data_bits, check_bit, data_bit).astype(np.int64)

    def read(self, start: int = 0, stop: int | None = None) -> Any:
        """The float32 values at [start, stop), as the processor receives them.

        The result may be a view of the stored words: treat it as read-only.
        """
        xp, memory, errors = self.xp, self.memory, self.memory.errors
        stop = self.n_values if stop is None else stop
        n_bits = (stop - start) * self.code_bits
        counters = self.counters
        counters.bits_read += n_bits
        seconds = self._access_time_s(n_bits, False)
        counters.read_time_s += seconds
        self.clock.advance(seconds)
        self._apply_retention()
        if errors.read_disturb_ber > 0.0:
            self._apply_stored_flips(
                "read_disturb", self._streams["read_disturb"].take(n_bits, errors.read_disturb_ber), start
            )
        words = self.words[start:stop]
        damage_words, damage_masks = self._damage_in(start, stop)
        damage_words = damage_words - start
        transient = faults.EMPTY_POSITIONS
        if errors.read_sense_ber > 0.0:
            transient = self._streams["read_sense"].take(n_bits, errors.read_sense_ber)
        if len(transient):
            self._count_flips("read_sense", transient)
            sense_words, sense_masks = faults.word_masks(transient, self.code_bits)
            damage_words, damage_masks = faults.merge_masks(damage_words, damage_masks, sense_words, sense_masks)
        else:
            sense_words = sense_masks = None

        if sense_words is not None or (self.code.check_bits and len(damage_words)):
            words = words.copy()
            if sense_words is not None:
                data = sense_masks & np.uint64((1 << self.data_bits) - 1)
                faults.xor_words(xp, words, sense_words[data != 0], data[data != 0])
            if self.code.check_bits and len(damage_words):
                outcome, correction = self.code.decode(damage_masks)
                fix = (outcome == CORRECTED) & (correction != 0)
                faults.xor_words(xp, words, damage_words[fix], correction[fix])
                zero = outcome == ZEROED
                if zero.any():
                    words[xp.asarray(damage_words[zero])] = 0
                counters.errors_corrected += int((outcome == CORRECTED).sum())
                counters.errors_detected += int(zero.sum())
                counters.values_zeroed += int(zero.sum())
        values = self.format.decode(xp, words, self.scales.get(start, 1.0))
        if memory.params.protection == "sanity":
            bad = ~xp.isfinite(values) | (xp.abs(values) > memory.params.sanity_bound)
            n_bad = int(bad.sum())
            if n_bad:
                values = xp.where(bad, xp.float32(0), values)
                counters.errors_detected += n_bad
                counters.values_zeroed += n_bad
        return values

    def peek(self) -> Any:
        """The stored values decoded without any access (for measurement, not counted)."""
        return self.format.decode(self.xp, self.words, self.scales.get(0, 1.0)).copy()


class TensorStore:
    """All arenas of a run and the placement of each role in the current phase."""

    def __init__(self, sizes: Mapping[str, int], memories: Mapping[str, Memory], xp: Any, clock: SimClock):
        self.sizes = {role: int(n) for role, n in sizes.items() if n > 0}
        self.memories = dict(memories)
        self.xp = xp
        self.clock = clock
        self._phase = [""]
        self.arenas: dict[str, Arena] = {}

    @property
    def phase(self) -> str:
        return self._phase[0]

    def enter_phase(self, phase: str, placement: Mapping[str, str], initial: Mapping[str, Any] | None = None) -> None:
        """Place every role for ``phase``; a role that moves is read from its old memory and written to the new."""
        self._phase[0] = phase
        for role, n_values in self.sizes.items():
            target = placement[role]
            current = self.arenas.get(role)
            if current is not None and current.memory.name == target:
                continue
            arena = Arena(role, n_values, self.memories[target], self.xp, self.clock, self._phase)
            if current is not None:
                arena.write(current.read())
            elif initial is not None and role in initial:
                arena.write(self.xp.asarray(initial[role], dtype=self.xp.float32))
            self.arenas[role] = arena

    def read(self, role: str, start: int = 0, stop: int | None = None) -> Any:
        return self.arenas[role].read(start, stop)

    def write(self, role: str, values: Any, start: int = 0) -> None:
        self.arenas[role].write(values, start)

    def peek(self, role: str) -> Any:
        return self.arenas[role].peek()

    def memories_in_use(self) -> set[str]:
        return {arena.memory.name for arena in self.arenas.values()}

"""What a memory did: the counters every access adds to (per memory and phase), and the simulated clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# The error events a memory's cells undergo (memtech.storage.events, memtech.storage.cells); flips are
# counted per event.
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

    def add_flips(self, event: str, bits: np.ndarray, code_bits: int) -> None:
        """Count flips of ``event`` at codeword bit positions ``bits`` (each below ``code_bits``)."""
        self.flips[event] += len(bits)
        histogram = self.bit_flips
        if len(bits) <= 64:  # the usual few hits: a Python loop beats a numpy round trip
            for bit in bits.tolist():
                histogram[bit] += 1
        else:
            for bit, count in enumerate(np.bincount(bits, minlength=code_bits).tolist()):
                histogram[bit] += count

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


class ArenaAccounting:
    """Where one arena's accesses are counted and what they cost in simulated time.

    The counters are those of the memory for the current phase (or, with a per-layer placement, of the
    arena's layer in that phase); they are looked up once per phase, not per access.
    """

    __slots__ = ("memory", "layer", "clock", "_phase", "_counters_phase", "_counters", "_time_cache")

    def __init__(self, memory, layer: str | None, clock: SimClock, phase: list[str]):
        self.memory = memory
        self.layer = layer
        self.clock = clock
        self._phase = phase  # shared one-element list: the current phase name
        self._counters_phase: str | None = None
        self._counters = AccessCounters()
        self._time_cache: dict[tuple[int, bool], float] = {}

    def counters(self) -> AccessCounters:
        """The counters of the current phase (failures still held on a GPU not yet added)."""
        phase = self._phase[0]
        if phase is not self._counters_phase:
            self._counters_phase = phase
            if self.layer is None:
                self._counters = self.memory.counters[phase]
            else:
                self._counters = self.memory.layer_counters[(phase, self.layer)]
        return self._counters

    def _access_time_s(self, n_bits: int, write: bool) -> float:
        key = (n_bits, write)
        seconds = self._time_cache.get(key)
        if seconds is None:
            latency = self.memory.latency
            seconds = latency.write_time_s(n_bits) if write else latency.read_time_s(n_bits)
            self._time_cache[key] = seconds
        return seconds

    def charge(self, n_bits: int, write: bool) -> AccessCounters:
        """Count an access of ``n_bits`` (a write or a read) and let its latency pass; returns the phase's
        counters."""
        counters = self.counters()
        seconds = self._access_time_s(n_bits, write)
        if write:
            counters.bits_written += n_bits
            counters.write_time_s += seconds
        else:
            counters.bits_read += n_bits
            counters.read_time_s += seconds
        self.clock.advance(seconds)
        return counters

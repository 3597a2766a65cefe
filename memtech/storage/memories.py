"""One memory of a run (``sram``, ``mram``, ...): its technology's models and what it did, per phase."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from memtech.formats import FORMATS
from memtech.memory import MemoryTechnology
from memtech.storage.counters import AccessCounters


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
        self.arena_of_role: dict[str, Any] = {}  # the latest arena of each role held here
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

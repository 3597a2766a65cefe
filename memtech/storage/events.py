"""The random error events of one arena, each owning its random stream (rates from the memory's
:class:`~memtech.memory.ErrorModel`).

* :class:`ReadEvent` — read-sense errors (they corrupt only the value read) and read disturb (it flips the
  stored cell): independent flips per bit read.
* :class:`Retention` — flips that accumulate over the simulated time since the stored bits were last brought
  up to date, a Poisson process in bit × time.
* Write errors, by transition, are :class:`memtech.storage.writes.WriteErrors`.

Thinning (keeping a candidate drawn at the largest of several rates with its own rate's share) draws from one
``accept`` stream per arena, shared by the write and retention events: the streams are keyed by name, and
pinned faults depend on which draws come from which stream.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from memtech import faults
from memtech.memory import ErrorModel


def thin(accept: np.random.Generator, positions: np.ndarray, p_candidate: float, p_of_hit: np.ndarray) -> np.ndarray:
    """Keep each candidate with probability p_of_hit / p_candidate.

    Candidates were drawn at ``p_candidate``; keeping each with its own ratio makes every bit exactly
    Bernoulli(p_of_hit). The ratio is >= ~1e-9 in practice, so float64 uniforms (2^-53 step) are exact.
    """
    keep = accept.random(len(positions)) * p_candidate < p_of_hit
    return positions[keep]


def distinct_rounds(events: np.ndarray) -> Iterator[np.ndarray]:
    """Events on bit positions, in event order, as rounds of distinct positions (each round sorted).

    Two events on one bit flip it twice, in order: applying them round by round keeps both in the count
    instead of cancelling them silently.
    """
    while len(events):
        _, first = np.unique(events, return_index=True)
        first.sort()
        yield events[first]
        events = np.delete(events, first)


class ReadEvent:
    """Independent flips of the bits a read touches, at probability ``p`` per bit per read."""

    __slots__ = ("p", "_stream")

    def __init__(self, p: float, rng: np.random.Generator):
        self.p = p
        self._stream = faults.BernoulliStream(rng)

    def draw(self, n_bits: int) -> np.ndarray:
        """Sorted positions, among the next ``n_bits`` read, of the bits that flip."""
        p = self.p
        if p == 0.0 or self._stream.skip(n_bits, p):
            return faults.EMPTY_POSITIONS
        return self._stream.take(n_bits, p)


class Retention:
    """Retention flips of an array's stored bits over simulated time.

    Events come at ``hazard`` = bits × the largest rate per second; the time of the next one is kept, so an
    access with none due costs one comparison. With rates that differ by the bit's value, each event flips
    its bit with probability (rate of the bit's current value) / (largest rate) (uniformization).
    """

    def __init__(self, errors: ErrorModel, rng: np.random.Generator, accept: np.random.Generator, n_bits: int,
                 code_bits: int, now_s: float):
        self.rate_0to1_per_s = errors.retention_rate_0to1_per_s
        self.rate_1to0_per_s = errors.retention_rate_1to0_per_s
        self.rate_per_s = max(self.rate_0to1_per_s, self.rate_1to0_per_s)
        self.n_bits = n_bits
        self.code_bits = code_bits
        self._events = faults.PoissonStream(rng)
        self._accept = accept
        self._hazard_per_s = n_bits * self.rate_per_s
        self._origin_s = now_s
        self.due_s = now_s + self._events.next_at / self._hazard_per_s if self.rate_per_s > 0.0 else math.inf

    def rounds(self, now_s: float, stored_bits) -> Iterator[np.ndarray]:
        """The flips due up to ``now_s``, as rounds of sorted, distinct positions to apply in order (call only
        when ``now_s >= due_s``). ``stored_bits(words, bits)`` gives the current stored values; it is asked
        after the previous round was applied."""
        hazard, origin = self._hazard_per_s, self._origin_s
        count = self._events.take_until((now_s - origin) * hazard)
        self.due_s = origin + self._events.next_at / hazard
        if count == 0:
            return
        events = self._events.positions(count, self.n_bits)
        asymmetric = self.rate_0to1_per_s != self.rate_1to0_per_s
        for batch in distinct_rounds(events):
            if asymmetric:
                current = stored_bits(batch // self.code_bits, batch % self.code_bits)
                rate = np.where(current == 1, self.rate_1to0_per_s, self.rate_0to1_per_s)
                batch = thin(self._accept, batch, self.rate_per_s, rate)
            yield np.sort(batch)

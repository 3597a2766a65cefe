"""The bit-level fault engine: exact, sparse Bernoulli bit flips on stored bit patterns.

Design requirements:

* **Exact per-bit Bernoulli.** Each bit of a stream fails independently with probability ``p``. Hits are
  found by drawing geometric gaps between them (float64 inversion, exact far below p = 1e-9), never by
  comparing float32 uniforms with ``p`` (their 2^-24 step makes ``u < 1e-8`` fire ~4.5x too often).
  Gaps are >= 1, so positions are distinct by construction: no two hits on one bit can cancel.
* **O(N·p) work and a one-comparison fast path.** A :class:`BernoulliStream` keeps the distance to its
  next hit across calls, so a write of N bits with no hit costs one integer comparison, however large N.
* **Memoryless rate changes.** The geometric distribution is memoryless, so when the probability changes
  between calls (e.g. retention over a longer interval) the stream restarts its gap at the new rate and
  stays exact.
* **Backend-neutral.** Positions are drawn on the host with NumPy; only the few affected words travel to
  the device, so the same seed gives the same faults on NumPy and CuPy.
* **Time and wear.** :class:`PoissonStream` places retention events over bit × simulated-time exposure;
  :class:`WeakestCells` draws the write-count lifetimes of only the cells that wear out during a run.
"""

from __future__ import annotations

import bisect
import math
import zlib
from typing import Any

import numpy as np

_NO_HIT = 1 << 62  # distance used when p == 0: never reached
EMPTY_POSITIONS = np.empty(0, dtype=np.int64)


def stream_rng(seed: int, *names: str) -> np.random.Generator:
    """An independent generator for one (memory, tensor role, event) stream, stable across runs."""
    key = tuple(zlib.crc32(name.encode()) for name in names)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy=seed, spawn_key=key)))


class BernoulliStream:
    """Hit positions in an endless stream of independent Bernoulli(p) bits.

    ``take(n, p)`` consumes the next ``n`` bits of the stream and returns the sorted positions (0-based,
    relative to those ``n`` bits) of the bits that fail. Hit positions are drawn ahead in blocks (geometric
    gaps, cumulated) and kept as absolute positions in the stream, so a call without a hit is one integer
    comparison and a call with a few hits is one binary search and one slice.
    """

    __slots__ = ("_rng", "_p", "_buffer", "_list", "_index", "_next", "_consumed", "_block", "_last")

    _BLOCK = 256  # gaps drawn by the first refill at least: amortizes the generator call over many hits
    _MAX_BLOCK = 1 << 16  # each refill draws twice as many as the last, up to this: busy streams refill rarely

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._p = 0.0
        self._buffer = EMPTY_POSITIONS  # absolute positions of upcoming hits; _buffer[_index] == _next
        self._list: list[int] | None = None  # the same positions as a Python list, made when take_list needs it
        self._index = 0
        self._next = _NO_HIT
        self._consumed = 0  # bits of the stream consumed so far
        self._block = self._BLOCK
        self._last = -1  # the last position in the buffer (a plain int, for pending())

    def _refill(self, after: int, expected_hits: float) -> None:
        """Draw the hits that follow absolute position ``after`` (the last hit drawn, or one before the start)."""
        # The generator's geometric draws do not depend on how they are split into calls, so the block size
        # changes no hit position (only a rate change, which discards the rest of the block, would notice).
        size = max(self._block, int(expected_hits + 5.0 * math.sqrt(expected_hits) + 16))
        self._block = min(2 * self._block, self._MAX_BLOCK)
        self._buffer = after + np.cumsum(self._rng.geometric(self._p, size=size))
        self._list = None
        self._index = 0
        self._next = int(self._buffer[0])
        self._last = int(self._buffer[-1])

    def take(self, n_bits: int, p: float) -> np.ndarray:
        if p != self._p:
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"bit error probability must be in [0, 1], got {p!r}")
            # Memoryless: the bits after this point are a fresh Bernoulli(p) stream whatever came before.
            self._p = p
            self._block = self._BLOCK  # the rest of a block is dropped at a rate change: start small again
            if p == 0.0:
                self._buffer, self._index, self._next, self._last = EMPTY_POSITIONS, 0, _NO_HIT, -1
            else:
                self._refill(self._consumed - 1, 0.0)
        start = self._consumed
        end = start + n_bits
        if self._next >= end:  # the common case: nothing fails in these n bits
            self._consumed = end
            return EMPTY_POSITIONS
        chunks = []
        while True:
            buffer = self._buffer
            stop = int(buffer.searchsorted(end))
            chunks.append(buffer[self._index:stop])
            if stop < len(buffer):
                self._index = stop
                self._next = int(buffer[stop])
                break
            self._refill(int(buffer[-1]), (end - int(buffer[-1])) * self._p)
        self._consumed = end
        hits = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        return hits - start

    def take_list(self, n_bits: int, p: float) -> list[int]:
        """:meth:`take` as a Python list: the same hits, cheaper to walk element by element when they are few."""
        start, hits = self.take_span(n_bits, p)
        return [hit - start for hit in hits] if start else hits

    def take_span(self, n_bits: int, p: float) -> tuple[int, list[int]]:
        """:meth:`take` as (stream position of the first of the ``n_bits``, absolute hit positions).

        Walks the buffer as a list, refilling it in place, so a call costs no array operation however close
        to the end of the buffer it falls; the draws are those :meth:`take` makes. A caller that walks the
        hits anyway subtracts the start itself instead of paying for a second list.
        """
        start = self._consumed
        end = start + n_bits
        if p != self._p:  # a rate change restarts the stream: rare, left to take()
            return 0, self.take(n_bits, p).tolist()
        if self._next >= end:
            self._consumed = end
            return start, []
        positions = self._list
        if positions is None:
            positions = self._list = self._buffer.tolist()
        stop = bisect.bisect_left(positions, end, self._index)
        hits = positions[self._index:stop]
        while stop == len(positions):
            self._refill(positions[-1], (end - positions[-1]) * p)
            positions = self._list = self._buffer.tolist()
            stop = bisect.bisect_left(positions, end)
            hits += positions[:stop]
        self._index, self._next, self._consumed = stop, positions[stop], end
        return start, hits

    def pending(self, n_bits: int, p: float) -> tuple[np.ndarray, int, int] | None:
        """For a compiled walker: (hit buffer, index of the next hit, stream position of the first of the next
        ``n_bits``), the buffer holding every hit among those bits; None at a change of rate or at p = 0 (use
        :meth:`take`).

        The hits of the next ``n_bits`` are ``buffer[index:]`` up to position ``start + n_bits``; the caller
        walks them and then calls :meth:`advance` with the index it stopped at.
        """
        if p != self._p or p == 0.0:
            return None
        end = self._consumed + n_bits
        while self._last < end:  # draw the hits that follow, keeping those not consumed yet in front
            unconsumed = self._buffer[self._index:]
            self._refill(self._last, (end - self._last) * p)
            if len(unconsumed):
                self._buffer = np.concatenate([unconsumed, self._buffer])
                self._next = int(self._buffer[0])
        return self._buffer, self._index, self._consumed

    def advance(self, n_bits: int, stop: int, next_hit: int) -> None:
        """Consume the next ``n_bits`` after a walk of :meth:`pending`'s buffer that stopped at index ``stop``,
        where the hit ``next_hit`` lies."""
        self._index, self._next, self._consumed = stop, next_hit, self._consumed + n_bits

    def skip(self, n_bits: int, p: float) -> bool:
        """Consume the next ``n_bits`` if none of them fails and say so; otherwise consume nothing.

        The no-hit case of :meth:`take` without building a result: ``skip(n, p) or take(n, p)``.
        """
        end = self._consumed + n_bits
        if p != self._p or self._next < end:
            return False
        self._consumed = end
        return True


class PoissonStream:
    """Events of a unit-rate Poisson process over accumulated exposure (bit-seconds × rate).

    Used for time-dependent events such as retention: a stored bit flips at a constant hazard rate, so the
    flips of all bits together form a Poisson process in (bit × time). The exposure at which the next event
    happens is kept across calls (``next_at``, on the stream's own cumulative scale), so an interval with no
    event costs one float comparison, and the result is exact for any split of time into intervals
    (uniformization of the two-state Markov chain of each bit).
    """

    __slots__ = ("_rng", "_consumed", "next_at")

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._consumed = 0.0  # exposure consumed so far
        self.next_at = float(rng.exponential())  # cumulative exposure of the next event

    def take(self, exposure: float) -> int:
        """Number of events within the next ``exposure`` units."""
        return self.take_until(self._consumed + exposure)

    def take_until(self, total_exposure: float) -> int:
        """Number of events up to cumulative exposure ``total_exposure`` (not counted before)."""
        self._consumed = total_exposure
        count = 0
        while self.next_at <= total_exposure:
            count += 1
            self.next_at += float(self._rng.exponential())
        return count

    def positions(self, count: int, n_bits: int) -> np.ndarray:
        """Where ``count`` events land: uniform over the bits, in event order (a bit may be hit twice)."""
        return self._rng.integers(0, n_bits, size=count, dtype=np.int64)


class WeakestCells:
    """Write-count lifetimes of the weakest cells of an array, in increasing order, drawn on demand.

    Each of ``n_cells`` cells survives a log-normal number of writes (median ``median_writes``, log-space
    standard deviation ``sigma_ln``). Only the cells that fail within the writes a run actually makes are ever
    drawn: the ascending order statistics of n uniforms come from the Rényi representation
    (E_(k) = Σ_{j<=k} Exp_j / (n-j+1), U_(k) = 1 - exp(-E_(k))), so the cost is per failing cell, not per
    cell, and the k-th lifetime is exact for any k. Each failing cell gets a distinct uniform position.
    """

    def __init__(self, rng: np.random.Generator, n_cells: int, median_writes: float, sigma_ln: float):
        from scipy.special import ndtri  # scipy ships with scikit-learn, a core dependency

        self._ndtri = ndtri
        self._rng = rng
        self._n = int(n_cells)
        self._log_median = math.log(median_writes)
        self._sigma = float(sigma_ln)
        self._drawn = 0
        self._exposure = 0.0  # E_(k) of the last drawn cell
        self._used: set[int] = set()
        self._peek = self._draw_lifetime()

    def _draw_lifetime(self) -> float:
        if self._drawn >= self._n:
            return math.inf
        self._exposure += float(self._rng.exponential()) / (self._n - self._drawn)
        self._drawn += 1
        u = -math.expm1(-self._exposure)
        return math.exp(self._log_median + self._sigma * float(self._ndtri(u)))

    @property
    def next_lifetime(self) -> float:
        """Lifetime (in writes) of the weakest cell not yet returned by :meth:`take_until`."""
        return self._peek

    def take_until(self, writes: float) -> tuple[np.ndarray, np.ndarray]:
        """(positions, lifetimes) of the cells whose lifetime is at most ``writes``, not returned before."""
        lifetimes = []
        while self._peek <= writes:
            lifetimes.append(self._peek)
            self._peek = self._draw_lifetime()
        positions = np.empty(len(lifetimes), dtype=np.int64)
        for i in range(len(lifetimes)):
            position = int(self._rng.integers(self._n))
            while position in self._used:  # distinct cells: redraw the rare repeats
                position = int(self._rng.integers(self._n))
            self._used.add(position)
            positions[i] = position
        return positions, np.asarray(lifetimes, dtype=np.float64)


def word_masks(positions: np.ndarray, bits_per_word: int) -> tuple[np.ndarray, np.ndarray]:
    """Group sorted, distinct bit positions into (word indices, uint64 masks of the bits hit in each word)."""
    words = positions // bits_per_word
    masks = np.left_shift(np.uint64(1), (positions % bits_per_word).astype(np.uint64))
    unique_words, starts = np.unique(words, return_index=True)
    return unique_words, np.bitwise_or.reduceat(masks, starts) if len(masks) else masks


def popcount(masks: np.ndarray) -> np.ndarray:
    return np.bitwise_count(masks.astype(np.uint64)).astype(np.int64)


def xor_words(xp: Any, words: Any, indices: np.ndarray, masks: np.ndarray) -> None:
    """``words[indices] ^= masks`` on any backend; indices must be unique."""
    if len(indices) == 0:
        return
    dtype = words.dtype
    idx = xp.asarray(indices)
    words[idx] ^= xp.asarray(masks.astype(dtype))


def gather_words(xp: Any, words: Any, indices: np.ndarray) -> np.ndarray:
    """The words at ``indices`` copied to the host as uint64."""
    if len(indices) == 0:
        return np.empty(0, dtype=np.uint64)
    got = words[xp.asarray(indices)]
    if xp is not np:
        got = got.get()
    return np.asarray(got).astype(np.uint64)


def merge_masks(
    words_a: np.ndarray, masks_a: np.ndarray, words_b: np.ndarray, masks_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """XOR-merge two sparse (word, mask) sets; words whose masks cancel to zero are dropped."""
    if len(words_a) == 0:
        return words_b, masks_b
    if len(words_b) == 0:
        return words_a, masks_a
    words = np.concatenate([words_a, words_b])
    masks = np.concatenate([masks_a, masks_b])
    order = np.argsort(words, kind="stable")
    words, masks = words[order], masks[order]
    unique_words, starts = np.unique(words, return_index=True)
    merged = np.bitwise_xor.reduceat(masks, starts)
    keep = merged != 0
    return unique_words[keep], merged[keep]

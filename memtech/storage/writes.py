"""Write errors by transition, and the paths a write takes through them.

A bit that must switch 0->1 or 1->0 fails with its own rate, a bit written with its current value with the
hold rate. Candidates are drawn from the write stream at the largest of the three rates and thinned to each
bit's own rate (memtech.storage.events.thin), which keeps every bit exactly Bernoulli while a write with no
candidate costs one comparison. In the usual STT-MRAM case (both switches fail alike, holding cells never
do) a candidate fails exactly when its bit switches, and no thinning draw is needed.

Which path draws and applies the errors; every path gives the same faults for a seed (pinned by
tests/test_storage_pinned.py):

* no candidate among the bits written: one comparison;
* switch-only or uniform errors on host words without check bits: compiled (memtech._fastpath) where it
  was built;
* a few candidates on such words otherwise: element by element in Python;
* switch-only errors on a GPU: decided on the device, counted later (Memory.settle_counts);
* anything else (check bits, stuck cells, asymmetric rates): array operations on the host.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from memtech import faults
from memtech.memory import ErrorModel
from memtech.storage.counters import AccessCounters
from memtech.storage.events import thin
from memtech.storage.words import StoredWords

try:  # the compiled hot loop of switch-only writes; built at install where a C compiler is present
    from memtech import _fastpath
except ImportError:  # pragma: no cover - depends on the install; the pure-Python path gives the same result
    _fastpath = None

_ONE = np.uint64(1)
FEW = 32  # up to this many hits, the element-by-element path is the cheaper one


def write_path() -> str:
    """Which write path this install runs on the CPU (shown by ``memtech --version``)."""
    if _fastpath is not None:
        return "compiled write path, memtech._fastpath"
    return "pure Python; memtech._fastpath was not built (no C compiler at install?): same faults, slower"


class WriteErrors:
    """The write errors of one arena: its write stream, and the words they land in."""

    def __init__(self, errors: ErrorModel, rng: np.random.Generator, accept: np.random.Generator,
                 stored: StoredWords, defer_device_failures: Callable[[Any], None]):
        self.p_0to1, self.p_1to0, self.p_hold = errors.write_ber_0to1, errors.write_ber_1to0, errors.write_ber_hold
        self.p = max(self.p_0to1, self.p_1to0, self.p_hold)
        self.uniform = self.p_0to1 == self.p_1to0 == self.p_hold
        self.switch_only = self.p_hold == 0.0 and self.p_0to1 == self.p_1to0
        self._stream = faults.BernoulliStream(rng)
        self._accept = accept
        self._stored = stored
        self._defer = defer_device_failures
        # switch-only errors (a candidate fails where its bit switches) or uniform ones (every candidate fails)
        self.compiled = _fastpath is not None and stored.element_access and (self.switch_only or self.uniform)
        # on a GPU, which candidates switch is decided on the device (no host round trip per write)
        self.on_device = stored.xp is not np and not stored.has_check_bits and self.switch_only

    def write(self, new_words: Any, scale: Any, start: int, counters: AccessCounters, any_stuck: bool):
        """Store ``new_words`` at word ``start`` through the write errors. Failed switches found element by
        element are applied and counted here; the other failures are returned, as codeword-bit positions
        relative to ``start`` (a list or a sorted array), for the caller to flip (stuck cells keep their value)."""
        stored = self._stored
        n_bits = len(new_words) * stored.code_bits
        p = self.p
        if p == 0.0 or self._stream.skip(n_bits, p):
            stored.store(new_words, scale, start)
            return faults.EMPTY_POSITIONS
        if self.compiled and not any_stuck and (pending := self._stream.pending(n_bits, p)) is not None:
            buffer, index, first = pending
            next_index, next_hit, failed = _fastpath.switch_only_write(
                buffer, index, first, stored.words, new_words, start, stored.word_shift, counters.bit_flips,
                self.uniform)
            self._stream.advance(n_bits, next_index, next_hit)
            counters.flips["write"] += failed
            stored.mark_written(scale, start, start + len(new_words))
            return faults.EMPTY_POSITIONS
        if stored.element_access and n_bits * p <= FEW:
            first, hits = self._stream.take_span(n_bits, p)
            if not hits:
                pass
            elif self.switch_only and len(hits) <= FEW and not any_stuck:
                failed = self._failed_switches(hits, first, new_words, start, counters)
                stored.store(new_words, scale, start)
                view = stored.view
                for word, mask in failed:
                    view[word] ^= mask  # the bit that failed to switch keeps its old value
                return faults.EMPTY_POSITIONS
            else:
                hits = [hit - first for hit in hits]
                if self.uniform:
                    pass
                elif len(hits) > FEW or self.switch_only:
                    hits = self._failed_writes(np.array(hits, dtype=np.int64), new_words, start)
                else:
                    hits = self._failed_writes_few(hits, new_words, start)
        elif self.on_device and not any_stuck:
            self._device_switch_write(self._stream.take(n_bits, p), new_words, start)
            stored.mark_written(scale, start, start + len(new_words))
            return faults.EMPTY_POSITIONS
        else:
            hits = self._stream.take(n_bits, p)
            if len(hits) and not self.uniform:
                hits = self._failed_writes(hits, new_words, start)
        stored.store(new_words, scale, start)
        return hits

    def _failed_writes(self, hits: np.ndarray, new_words: Any, start: int) -> np.ndarray:
        """Thin candidate hits (drawn at the largest write rate) to the cells that fail by their own transition:
        a failed switch (0->1 or 1->0), or a flip while holding."""
        stored = self._stored
        words, bits = np.divmod(hits, stored.code_bits)
        if stored.has_check_bits:
            old = stored.stored_bits(words + start, bits)
            new = stored.new_bits(faults.gather_words(stored.xp, new_words, words), bits)
        else:
            shift = bits.astype(np.uint64)
            old = (faults.gather_words(stored.xp, stored.words, words + start) >> shift) & _ONE
            new = (faults.gather_words(stored.xp, new_words, words) >> shift) & _ONE
        if self.switch_only:
            return hits[old != new]  # a switching cell fails at the candidate rate itself: no thinning draw
        p_of_hit = np.where(old == new, self.p_hold, np.where(new == 1, self.p_0to1, self.p_1to0))
        return thin(self._accept, hits, self.p, p_of_hit)

    def _failed_writes_few(self, candidates: list[int], new_words: np.ndarray, start: int) -> list[int]:
        """:meth:`_failed_writes` element by element, for a handful of hits (same draws, same result); the
        switch-only case needs no draw and is :meth:`_failed_switches`."""
        stored = self._stored
        words, new_words = stored.view, memoryview(new_words)
        shift, low = stored.word_shift, stored.code_bits - 1
        uniforms = self._accept.random(len(candidates)).tolist()  # the draws the array path makes
        kept = []
        for hit, uniform in zip(candidates, uniforms):
            word, bit = hit >> shift, hit & low
            old = (words[word + start] >> bit) & 1
            new = (new_words[word] >> bit) & 1
            p_of_hit = self.p_hold if old == new else (self.p_0to1 if new else self.p_1to0)
            if uniform * self.p < p_of_hit:
                kept.append(hit)
        return kept

    def _failed_switches(self, candidates: list[int], first: int, new_words: np.ndarray, start: int,
                         counters: AccessCounters) -> list[tuple[int, int]]:
        """Switch-only write errors of a handful of candidates on host words without check bits or stuck cells.

        ``candidates`` are stream positions; ``first`` is the stream position of the write's bit 0. A candidate
        fails exactly when its bit changes value (no draw needed). The failures are counted here and returned
        as (word, mask) pairs to XOR into the words once written, which puts each failed bit back to its old
        value. This is the hot loop of a faulty write at low error rates (~15 candidates per write of the
        default MLP's weights at 1e-4) where the compiled path is missing; an explicit loop over plain ints is
        the cheapest form measured.
        """
        stored = self._stored
        old, new, shift, low = stored.view, memoryview(new_words), stored.word_shift, stored.code_bits - 1
        histogram = counters.bit_flips
        failed = []
        for hit in candidates:
            hit -= first
            word = hit >> shift
            bit = hit & low
            if (old[word + start] ^ new[word]) >> bit & 1:
                histogram[bit] += 1
                failed.append((word + start, 1 << bit))
        counters.flips["write"] += len(failed)
        return failed

    def _device_switch_write(self, candidates: np.ndarray, new_words: Any, start: int) -> None:
        """Store ``new_words`` at ``start`` with switch-only write errors at ``candidates``, all on the device.

        A candidate bit fails exactly when it switches, and a failed bit keeps its old value, so each word
        becomes ``new ^ ((old ^ new) & candidate_mask)``: the host only sends the candidates and never waits
        for the GPU. The failures are counted later (:meth:`Memory.settle_counts`).
        """
        stored = self._stored
        xp, words = stored.xp, stored.words
        stop = start + len(new_words)
        if not len(candidates):
            words[start:stop] = new_words
            return
        word_index, masks = faults.word_masks(candidates, stored.code_bits)
        relative = xp.asarray(word_index)
        absolute = relative + start
        failed = (words[absolute] ^ new_words[relative]) & xp.asarray(masks.astype(words.dtype))
        words[start:stop] = new_words
        words[absolute] ^= failed  # word indices are distinct
        self._defer(failed)

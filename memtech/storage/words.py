"""The stored words of one arena and their code: what the cells hold, and what a read of them returns.

``words`` holds the data bits as stored (on the array backend). Check bits are not materialized: a word's
stored check bits are the code's check bits of the value last written to it, XOR the check-bit part of its
*damage* pattern. ``damage_words``/``damage_masks`` (host, sorted) record, for every word flipped since it
was last written, which codeword bits differ from what was written; decoding works on that pattern alone
because the codes are linear (memtech.protection).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from memtech import faults
from memtech.formats import StorageFormat
from memtech.protection import CORRECTED, ZEROED, Code

_ONE = np.uint64(1)


class StoredWords:
    """The words of one arena, their damage patterns and (int8) their scales."""

    def __init__(self, n_values: int, storage_format: StorageFormat, code: Code, xp: Any):
        self.xp = xp
        self.format = storage_format
        self.code = code
        self.has_check_bits = bool(code.check_bits)
        self.code_bits = code.codeword_bits
        self.data_bits = storage_format.bits
        self.data_mask = np.uint64((1 << self.data_bits) - 1)
        self.n_values = n_values
        self.n_bits = n_values * self.code_bits
        self.words = xp.zeros(n_values, dtype=storage_format.word_dtype)
        # int8 keeps one scale per write; a per-value copy lets a read span several writes.
        self.value_scale = np.ones(n_values, dtype=np.float32) if storage_format.name == "int8" else None
        self.damage_words = np.empty(0, dtype=np.int64)
        self.damage_masks = np.empty(0, dtype=np.uint64)
        # Host words without check bits can be touched element by element: a handful of flips costs less
        # that way than a dozen array calls (plain-int access through a memoryview, ~3x cheaper than NumPy
        # scalars). Their codeword width is 8, 16 or 32, so a position splits by shift and mask.
        self.element_access = xp is np and not self.has_check_bits
        if self.element_access:
            self.view = memoryview(self.words)
            self.word_shift = self.code_bits.bit_length() - 1

    # --- damage patterns ---------------------------------------------------------------------------------
    def add_damage(self, words: np.ndarray, masks: np.ndarray) -> None:
        self.damage_words, self.damage_masks = faults.merge_masks(self.damage_words, self.damage_masks, words, masks)

    def damage_in(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
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

    # --- what the cells hold -----------------------------------------------------------------------------
    def codewords(self, words: np.ndarray) -> np.ndarray:
        """The stored codewords (data bits, then check bits) of ``words``, as uint64 on the host."""
        stored = faults.gather_words(self.xp, self.words, words)
        if not self.has_check_bits:
            return stored
        damage = self._damage_of(words)
        written = stored ^ (damage & self.data_mask)
        checks = self.code.check_values(written) ^ (damage >> np.uint64(self.data_bits))
        return stored | (checks << np.uint64(self.data_bits))

    def stored_bits(self, words: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Current stored value (0/1) of codeword bit ``bits`` of word ``words`` (per hit)."""
        return ((self.codewords(words) >> bits.astype(np.uint64)) & _ONE).astype(np.int64)

    def data_bits_at(self, source: Any, cells: np.ndarray, offset_words: int = 0) -> np.ndarray:
        """The data bits (0/1) at codeword-bit positions ``cells`` of ``source`` (the stored words, or words
        about to be written whose word 0 is word ``offset_words``)."""
        index, bits = np.divmod(cells, self.code_bits)
        values = faults.gather_words(self.xp, source, index - offset_words)
        return ((values >> bits.astype(np.uint64)) & _ONE).astype(np.int64)

    def new_bits(self, new_data: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Bit ``bits`` (0/1) of the codewords that writing data words ``new_data`` gives."""
        codeword = new_data | (self.code.check_values(new_data) << np.uint64(self.data_bits))
        return ((codeword >> bits.astype(np.uint64)) & _ONE).astype(np.int64)

    # --- changing them -----------------------------------------------------------------------------------
    def store(self, new_words: Any, scale: Any, start: int) -> None:
        """Put freshly written ``new_words`` at ``start``; written words are clean (their damage is gone)."""
        stop = start + len(new_words)
        self.words[start:stop] = new_words
        self.mark_written(scale, start, stop)

    def mark_written(self, scale: Any, start: int, stop: int) -> None:
        """What a write of words [start, stop) changes besides the words themselves: scales and damage."""
        if self.value_scale is not None:
            self.value_scale[start:stop] = scale
        if len(self.damage_words):
            lo, hi = np.searchsorted(self.damage_words, [start, stop])
            if lo != hi:
                self.damage_words = np.concatenate([self.damage_words[:lo], self.damage_words[hi:]])
                self.damage_masks = np.concatenate([self.damage_masks[:lo], self.damage_masks[hi:]])

    def flip(self, words: np.ndarray, bits: np.ndarray, positions: np.ndarray, offset_words: int) -> None:
        """Flip codeword bit ``bits`` of word ``words`` (absolute) for each hit; ``positions`` are the same hits
        as sorted, distinct codeword-bit positions relative to word ``offset_words``."""
        if self.has_check_bits:
            # Damage is only needed to decode check bits; without a code the stored words say it all.
            word_index, masks = faults.word_masks(positions, self.code_bits)
            self.add_damage(word_index + offset_words, masks)
            data = bits < self.data_bits
            words, bits = words[data], bits[data]
        if self.xp is np:
            # XOR is order-free, so an unbuffered scatter handles two hits in one word without grouping
            np.bitwise_xor.at(self.words, words, np.left_shift(1, bits).astype(self.words.dtype))
        else:
            word_index, masks = faults.word_masks(words * self.code_bits + bits, self.code_bits)
            faults.xor_words(self.xp, self.words, word_index, masks)

    def flip_few(self, positions: list[int], offset_words: int, histogram: list[int]) -> None:
        """:meth:`flip` for a handful of hits by element access, each counted in ``histogram`` by its bit."""
        words, shift, low = self.view, self.word_shift, self.code_bits - 1
        for position in positions:
            bit = position & low
            histogram[bit] += 1
            words[(position >> shift) + offset_words] ^= 1 << bit

    def apply_damage(self, words: np.ndarray, damage: np.ndarray) -> None:
        """XOR codeword patterns ``damage`` into distinct ``words`` (data bits into the words, all into damage)."""
        data = damage & self.data_mask
        faults.xor_words(self.xp, self.words, words[data != 0], data[data != 0])
        self.add_damage(words, damage)

    def scale(self, start: int, stop: int) -> Any:
        if self.value_scale is None:
            return 1.0
        scales = self.value_scale[start:stop]
        if len(scales) == 0 or scales.min() == scales.max():
            return float(scales[0]) if len(scales) else 1.0
        return self.xp.asarray(scales)


class Decoder:
    """The protection a read applies: the code's correction (parity and SECDED zero what they only detect)
    and the sanity check (non-finite or out-of-bound values zeroed)."""

    def __init__(self, code: Code, sanity_bound: float | None, xp: Any):
        self.code = code
        self.sanity_bound = sanity_bound  # None: no sanity check
        self.xp = xp

    def correct(self, words: Any, damage_words: np.ndarray, damage_masks: np.ndarray, counters: Any) -> None:
        """Decode ``words`` (a copy) in place: correct what the code corrects, zero what it only detects;
        ``damage_words`` are indices into ``words``. Counted unless ``counters`` is None."""
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

    def sanity_check(self, values: Any, counters: Any) -> Any:
        xp = self.xp
        if xp is np and values.size:
            # The usual read has nothing to zero: two reductions that allocate nothing tell (NaN propagates
            # through min and max and fails both comparisons), ~4x cheaper than the masks below.
            if values.min() >= -self.sanity_bound and values.max() <= self.sanity_bound:
                return values
        bad = ~(xp.abs(values) <= self.sanity_bound)  # NaN compares false: caught with the infinities
        n_bad = int(bad.sum())
        if n_bad:
            values = xp.where(bad, xp.float32(0), values)
            if counters is not None:
                counters.errors_detected += n_bad
                counters.values_zeroed += n_bad
        return values

    def values(self, stored: StoredWords, words: Any, damage_words: np.ndarray, damage_masks: np.ndarray,
               start: int, stop: int, counters: Any) -> Any:
        """The float32 values of ``words`` (stored words [start, stop), or a copy with a read's sensing errors)
        after the code's correction and the sanity check; ``damage_words`` index into ``words``, which must be
        a copy where there is damage to correct. Counted unless ``counters`` is None."""
        if stored.has_check_bits and len(damage_words):
            self.correct(words, damage_words, damage_masks, counters)
        values = stored.format.decode(self.xp, words, stored.scale(start, stop))
        if self.sanity_bound is not None:
            values = self.sanity_check(values, counters)
        return values

    def peek(self, stored: StoredWords) -> Any:
        """The values as a read returns them, without an access (nothing counted, nothing drawn): a copy."""
        words = stored.words
        if stored.has_check_bits and len(stored.damage_words):
            words = words.copy()
        values = self.values(stored, words, stored.damage_words, stored.damage_masks, 0, stored.n_values, None)
        return values.copy()

"""The physical cells of one array: stuck-at cells, wear-out, weak cells.

Unlike the error events (memtech.storage.events), which are drawn afresh for every arena, the cells persist:
a role that leaves a memory and comes back finds the same stuck cells, the same wear and the same weak cells.
"""

from __future__ import annotations

import numpy as np

from memtech import faults
from memtech.memory import ErrorModel
from memtech.storage.weak_cells import WeakCells
from memtech.storage.words import StoredWords

_ONE = np.uint64(1)


def set_bits(masks: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, bit) of every bit set in ``masks`` (uint64, ``width`` bits each), row by row, low bits first."""
    bit_index = np.arange(width, dtype=np.uint64)
    hit = ((masks[:, None] >> bit_index[None, :]) & _ONE).astype(bool)
    rows, bits = np.nonzero(hit)
    return rows, bits


class StuckCells:
    """Cells stuck at 0 or 1: per word holding any, an AND mask that clears its stuck bits and an OR mask
    that sets those stuck at 1 (sorted by word)."""

    def __init__(self, code_bits: int):
        self.code_bits = code_bits
        self.words = np.empty(0, dtype=np.int64)
        self.and_masks = np.empty(0, dtype=np.uint64)
        self.or_masks = np.empty(0, dtype=np.uint64)

    def __len__(self) -> int:
        """Words holding a stuck cell."""
        return len(self.words)

    def draw(self, errors: ErrorModel, rng: np.random.Generator, n_bits: int) -> None:
        """The map of an array as manufactured: each cell stuck with the model's fractions."""
        fraction = errors.stuck_at_0_fraction + errors.stuck_at_1_fraction
        if fraction <= 0.0:
            return
        positions = faults.BernoulliStream(rng).take(n_bits, min(fraction, 1.0))
        at_one = rng.random(len(positions)) * fraction < errors.stuck_at_1_fraction
        self.add(positions, at_one)

    def add(self, positions: np.ndarray, at_one: np.ndarray) -> None:
        """Add stuck cells at absolute codeword-bit ``positions`` (distinct, not stuck yet) to the map."""
        if len(positions) == 0:
            return
        bits = (positions % self.code_bits).astype(np.uint64)
        words = np.concatenate([self.words, positions // self.code_bits])
        and_masks = np.concatenate([self.and_masks, ~(_ONE << bits)])
        or_masks = np.concatenate([self.or_masks, np.where(at_one, _ONE << bits, np.uint64(0))])
        order = np.argsort(words, kind="stable")
        words, and_masks, or_masks = words[order], and_masks[order], or_masks[order]
        unique_words, starts = np.unique(words, return_index=True)
        self.words = unique_words
        self.and_masks = np.bitwise_and.reduceat(and_masks, starts)
        self.or_masks = np.bitwise_or.reduceat(or_masks, starts)

    def cells(self) -> tuple[np.ndarray, np.ndarray]:
        """(absolute codeword-bit positions, stuck values 0/1) of every stuck cell, sorted by position."""
        rows, bits = set_bits(~self.and_masks, self.code_bits)
        positions = self.words[rows] * self.code_bits + bits
        values = ((self.or_masks[rows] >> bits.astype(np.uint64)) & _ONE).astype(np.int64)
        return positions, values

    def not_stuck(self, positions: np.ndarray, offset_words: int) -> np.ndarray:
        """``positions`` (relative to word ``offset_words``) without the stuck cells among them."""
        words = positions // self.code_bits + offset_words
        idx = np.minimum(np.searchsorted(self.words, words), len(self.words) - 1)
        stuck = np.where(self.words[idx] == words, ~self.and_masks[idx], np.uint64(0))
        is_stuck = ((stuck >> (positions % self.code_bits).astype(np.uint64)) & _ONE).astype(bool)
        return positions[~is_stuck]

    def forcing(self, stored: StoredWords, start: int, stop: int) -> tuple[np.ndarray, np.ndarray] | None:
        """After a write of words [start, stop): the words whose stuck cells now hold the wrong value, and per
        word the codeword bits to flip back to the stuck values; None where there are none."""
        if not len(self.words):
            return None
        lo, hi = np.searchsorted(self.words, [start, stop])
        if lo == hi:
            return None
        words = self.words[lo:hi]
        codeword = stored.codewords(words)
        damage = codeword ^ ((codeword & self.and_masks[lo:hi]) | self.or_masks[lo:hi])
        hit = damage != 0
        if not hit.any():
            return None
        return words[hit], damage[hit]


class Wear:
    """Write endurance: each cell survives a log-normal number of writes (memtech.faults.WeakestCells draws
    the weakest lifetimes on demand); a worn-out cell becomes stuck at a random value."""

    def __init__(self, errors: ErrorModel, seed: int, names: tuple[str, ...], n_values: int, n_bits: int):
        self._lifetimes = faults.WeakestCells(faults.stream_rng(seed, *names, "wear-out"), n_bits,
                                              errors.endurance_writes, errors.endurance_sigma_ln)
        self._value_rng = faults.stream_rng(seed, *names, "wear-out-value")
        self._stuck_at_1_fraction = errors.wearout_stuck_at_1_fraction
        self._write_counts = np.zeros(n_values, dtype=np.int64)
        self._writes = 0
        self._pending_cells = np.empty(0, dtype=np.int64)  # weakest cells drawn whose words have not worn yet
        self._pending_lifetimes = np.empty(0, dtype=np.float64)
        self._next_death = self._lifetimes.next_lifetime

    def record_write(self, start: int, stop: int, stuck: StuckCells) -> int:
        """Count a write of words [start, stop); cells it wore out join ``stuck``. Returns how many."""
        self._write_counts[start:stop] += 1
        self._writes += 1
        if self._writes < self._next_death:
            return 0
        code_bits = stuck.code_bits
        new_cells, new_lifetimes = self._lifetimes.take_until(self._writes)
        cells = np.concatenate([self._pending_cells, new_cells])
        lifetimes = np.concatenate([self._pending_lifetimes, new_lifetimes])
        dead = self._write_counts[cells // code_bits] >= lifetimes
        worn_out = 0
        if dead.any():
            dying = cells[dead]
            if len(stuck):  # a cell already stuck from the start stays as it is
                dying = stuck.not_stuck(dying, 0)
            at_one = self._value_rng.random(len(dying)) < self._stuck_at_1_fraction
            order = np.argsort(dying)
            stuck.add(dying[order], at_one[order])
            worn_out = len(dying)
        self._pending_cells, self._pending_lifetimes = cells[~dead], lifetimes[~dead]
        self._next_death = min(self._pending_lifetimes.min(initial=np.inf), self._lifetimes.next_lifetime)
        return worn_out


class Cells:
    """The cells of one array of one role in one memory, drawn once from the seed and the array's names."""

    def __init__(self, errors: ErrorModel, seed: int, names: tuple[str, ...], stored: StoredWords,
                 retention_rate_per_s: float):
        self.stuck = StuckCells(stored.code_bits)
        self.stuck.draw(errors, faults.stream_rng(seed, *names, "stuck-map"), stored.n_bits)
        self.wear = Wear(errors, seed, names, stored.n_values, stored.n_bits) if errors.endurance_writes > 0.0 else None
        weak = errors.weak_cells
        self.weak = None if weak is None or not weak.active else WeakCells(
            names, seed, stored.n_bits, stored.code_bits, stored.data_bits, weak,
            (errors.write_ber_0to1, errors.write_ber_1to0, errors.write_ber_hold), retention_rate_per_s)

"""Persistent weak cells: a fraction of an array's cells with their own write and retention error rates.

Cells differ (technology-reference.md §5.1: the WER has a distribution across cells; §5.3: a Δ distribution
across an array). memtech models the low tail as a population of weak cells drawn once per array from the
seed, like the stuck map: the same cells stay weak for the whole run and whenever a role returns to the
memory. The array's ordinary fault streams treat every cell alike; this module corrects them at the weak
cells, so each weak cell's write fails with the weak rate and its stored bit flips at the weak retention rate:

* write: after the ordinary write, a weak data cell that was to change (or, with hold errors, any weak data
  cell) and did not fail fails with probability (p_weak − p)/(1 − p) when p_weak > p; one that failed is set
  right with probability (p − p_weak)/p when p_weak < p. Either way the cell's failure probability is p_weak.
  Check-bit cells (parity, SECDED) get the weak retention rate but keep the ordinary write rate.
* retention: the weak cells flip at the extra rate (r_weak − r) on top of the array's rate r.
"""

from __future__ import annotations

import numpy as np

from memtech import faults
from memtech.memory import WeakCellModel


class WeakCells:
    """The weak cells of one array: their codeword-bit positions (sorted) and the random streams that correct
    the ordinary faults there."""

    def __init__(self, rng_seed_names: tuple, seed: int, n_bits: int, code_bits: int, data_bits: int,
                 model: WeakCellModel, base_write: tuple[float, float, float], base_retention_per_s: float):
        draw = faults.stream_rng(seed, *rng_seed_names, "weak-cells")
        count = int(draw.binomial(n_bits, model.fraction))
        self.positions = np.sort(draw.choice(n_bits, size=count, replace=False)).astype(np.int64)
        self.code_bits, self.data_bits = code_bits, data_bits
        self.model = model
        self.base_write = base_write  # (0->1, 1->0, hold) of the ordinary cells
        self._rng = faults.stream_rng(seed, *rng_seed_names, "weak-writes")
        self._extra_retention_per_s = max(0.0, model.retention_rate_per_s - base_retention_per_s)
        self._retention = faults.PoissonStream(faults.stream_rng(seed, *rng_seed_names, "weak-retention"))
        self._retention_origin_s = 0.0
        self._retention_hazard_per_s = self._extra_retention_per_s * count

    def __len__(self) -> int:
        return len(self.positions)

    def data_cells_in(self, start_word: int, stop_word: int) -> np.ndarray:
        """Weak data-bit positions inside words [start_word, stop_word)."""
        lo, hi = np.searchsorted(self.positions, [start_word * self.code_bits, stop_word * self.code_bits])
        cells = self.positions[lo:hi]
        return cells[cells % self.code_bits < self.data_bits]

    def write_corrections(self, old: np.ndarray, new: np.ndarray, stored: np.ndarray) -> np.ndarray:
        """Which of the cells (their old, intended and stored bits, 0/1) flip to give each the weak write rate:
        a boolean mask over the cells."""
        m, (b01, b10, bhold) = self.model, self.base_write
        switching_up, switching_down = (old == 0) & (new == 1), (old == 1) & (new == 0)
        base = np.where(switching_up, b01, np.where(switching_down, b10, bhold))
        weak = np.where(switching_up, m.write_ber_0to1, np.where(switching_down, m.write_ber_1to0, m.write_ber_hold))
        failed = stored != new
        u = self._rng.random(len(old))
        fail_more = ~failed & (weak > base) & (u * (1.0 - base) < (weak - base))
        set_right = failed & (weak < base) & (u * base < (base - weak))
        return fail_more | set_right

    def retention_events(self, now_s: float) -> np.ndarray:
        """Weak cells (codeword-bit positions, in event order) whose extra retention events fell before now."""
        if self._retention_hazard_per_s == 0.0:
            return faults.EMPTY_POSITIONS
        count = self._retention.take_until((now_s - self._retention_origin_s) * self._retention_hazard_per_s)
        if count == 0:
            return faults.EMPTY_POSITIONS
        return self.positions[self._retention.positions(count, len(self.positions))]

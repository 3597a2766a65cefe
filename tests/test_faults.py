"""The sparse Bernoulli/Poisson samplers: exact counts, distinct positions, uniform positions, fixed seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from memtech import faults

ALPHA = 1e-6  # two-sided failure probability of every statistical check


def binom_bounds(n: int, p: float) -> tuple[float, float]:
    return stats.binom.interval(1 - ALPHA, n, p)


@pytest.mark.parametrize("p, n_bits", [(1e-3, 10**7), (1e-5, 10**8), (1e-6, 10**9), (1e-7, 10**10), (1e-9, 10**12)])
def test_hit_count_within_binomial_bounds(p, n_bits):
    stream = faults.BernoulliStream(faults.stream_rng(7, "mem", "role", f"count-{p}"))
    # many calls of different sizes: the gap carried across calls must not bias the count
    sizes = [n_bits // 1000 + (i % 7) for i in range(1000)]
    total = sum(len(stream.take(size, p)) for size in sizes)
    lo, hi = binom_bounds(sum(sizes), p)
    assert lo <= total <= hi


def test_count_at_tiny_p_does_not_show_float32_granularity():
    # float32 uniforms below 2^-24 fire ~4.5x too often at p = 1e-8; the stream must match p itself
    p, n_bits = 1e-8, 10**11
    total = len(faults.BernoulliStream(faults.stream_rng(3, "tiny")).take(n_bits, p))
    lo, hi = binom_bounds(n_bits, p)
    assert lo <= total <= hi
    assert total < 2 * n_bits * p


def test_positions_are_sorted_distinct_and_inside():
    stream = faults.BernoulliStream(faults.stream_rng(1, "distinct"))
    for size in (1, 5, 1000, 123_457):
        positions = stream.take(size, 0.5)
        assert np.all(np.diff(positions) > 0)
        assert positions.min(initial=0) >= 0 and positions.max(initial=0) < size
    assert len(stream.take(10_000, 1.0)) == 10_000
    assert len(stream.take(10_000, 0.0)) == 0


def test_bit_positions_uniform_chi_square():
    stream = faults.BernoulliStream(faults.stream_rng(11, "uniform"))
    positions = np.concatenate([stream.take(32 * 100_003, 1e-3) for _ in range(20)])
    counts = np.bincount(positions % 32, minlength=32)
    assert stats.chisquare(counts).pvalue > ALPHA
    # hits spread evenly along the buffer too (catches a gap that restarts at each call)
    stream = faults.BernoulliStream(faults.stream_rng(12, "along"))
    positions = np.concatenate([stream.take(1000, 1e-3) for _ in range(100_000)])
    assert stats.chisquare(np.bincount(positions // 100, minlength=10)).pvalue > ALPHA


def test_same_seed_same_hits_and_streams_independent():
    a = faults.BernoulliStream(faults.stream_rng(5, "mram", "weights", "write"))
    b = faults.BernoulliStream(faults.stream_rng(5, "mram", "weights", "write"))
    c = faults.BernoulliStream(faults.stream_rng(5, "mram", "biases", "write"))
    d = faults.BernoulliStream(faults.stream_rng(6, "mram", "weights", "write"))
    hits = [s.take(10**6, 1e-3) for s in (a, b, c, d)]
    assert np.array_equal(hits[0], hits[1])
    for other in hits[2:]:
        # two independent streams share a position with probability ~p each
        assert len(np.intersect1d(hits[0], other)) < 20


def test_rate_change_keeps_counts_exact():
    stream = faults.BernoulliStream(faults.stream_rng(9, "change"))
    totals = {1e-3: 0, 1e-4: 0}
    for i in range(2000):
        p = 1e-4 if i % 2 else 1e-3
        totals[p] += len(stream.take(10**4, p))
    for p, total in totals.items():
        lo, hi = binom_bounds(1000 * 10**4, p)
        assert lo <= total <= hi


def test_poisson_stream_counts_over_split_exposure():
    stream = faults.PoissonStream(faults.stream_rng(2, "poisson"))
    total = sum(stream.take(0.37) for _ in range(10_000))  # exposure 3700 in all
    lo, hi = stats.poisson.interval(1 - ALPHA, 3700)
    assert lo <= total <= hi


def test_weakest_cells_follow_the_lognormal_cdf():
    n_cells, median, sigma = 10**7, 1e6, 0.5
    cells = faults.WeakestCells(faults.stream_rng(4, "wear"), n_cells, median, sigma)
    limit = 1.5e5
    positions, lifetimes = cells.take_until(limit)
    p = stats.norm.cdf(math.log(limit / median) / sigma)
    lo, hi = binom_bounds(n_cells, p)
    assert lo <= len(positions) <= hi
    assert np.all(np.diff(lifetimes) >= 0) and lifetimes.max() <= limit < cells.next_lifetime
    assert len(np.unique(positions)) == len(positions)
    assert positions.min() >= 0 and positions.max() < n_cells
    more, _ = cells.take_until(2e5)
    assert len(np.intersect1d(positions, more)) == 0


def test_word_masks_and_merge():
    words, masks = faults.word_masks(np.array([0, 3, 33, 64, 95]), 32)
    assert words.tolist() == [0, 1, 2]
    assert masks.tolist() == [0b1001, 0b10, (1 << 31) | 1]
    merged_words, merged = faults.merge_masks(words, masks, np.array([1, 2]), np.array([0b10, 1], dtype=np.uint64))
    assert merged_words.tolist() == [0, 2] and merged.tolist() == [0b1001, 1 << 31]


def test_take_list_gives_the_same_hits_as_take():
    a = faults.BernoulliStream(faults.stream_rng(8, "same"))
    b = faults.BernoulliStream(faults.stream_rng(8, "same"))
    rng = np.random.default_rng(0)
    for i in range(3000):
        n, p = int(rng.integers(1, 200_000)), (1e-4 if i < 2000 else 1e-3)
        assert a.take(n, p).tolist() == b.take_list(n, p)


def _walk_pending(stream: faults.BernoulliStream, n: int, p: float) -> list[int] | None:
    """What a compiled walker does with pending()/advance(), in Python."""
    pending = stream.pending(n, p)
    if pending is None:
        return None
    buffer, index, start = pending
    stop = index
    while buffer[stop] < start + n:
        stop += 1
    stream.advance(n, stop, int(buffer[stop]))
    return [int(hit) - start for hit in buffer[index:stop]]


def test_take_list_skip_and_pending_walks_match_take_across_refills_and_rate_changes():
    # calls that span several buffer refills, calls that skip, walks of pending() (which must extend its
    # buffer past any span, keep unconsumed hits and decline a rate change or p = 0), interleaved
    a = faults.BernoulliStream(faults.stream_rng(4, "same"))
    b = faults.BernoulliStream(faults.stream_rng(4, "same"))
    rng = np.random.default_rng(1)
    hits = walked = 0
    for i in range(3000):
        n = int(rng.integers(1, 2_000_000 if i % 97 == 0 else 50_000))
        p = (1e-4, 2e-4, 0.0, 1e-3)[(i // 500) % 4]
        expected = a.take(n, p).tolist()
        hits += len(expected)
        how = i % 4
        if how == 0:
            got = b.take_list(n, p)
        elif how == 1:
            got = [] if b.skip(n, p) else b.take(n, p).tolist()
        elif how == 2:
            got = _walk_pending(b, n, p)
            if got is None:  # a rate change or p = 0: the caller falls back to take()
                got = b.take(n, p).tolist()
            else:
                walked += len(got)
        else:
            got = b.take(n, p).tolist()
        assert got == expected, i
    assert hits > 10_000
    assert walked > 5_000


def test_refill_block_size_changes_no_hit():
    """Refill blocks grow as a stream is used; the generator's draws do not depend on how they are split."""
    small = faults.BernoulliStream(faults.stream_rng(9, "blocks"))
    large = faults.BernoulliStream(faults.stream_rng(9, "blocks"))
    large._block = large._MAX_BLOCK
    for _ in range(200):
        assert small.take(400_000, 1e-3).tolist() == large.take(400_000, 1e-3).tolist()

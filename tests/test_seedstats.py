"""Seed statistics: the interval is Student's t, it covers the true mean 95 % of the time, and runs that
differ only in seed are pooled into one point."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from scipy import stats

from memtech.seedstats import build_points, estimate, group_points


def test_the_interval_is_students_t_of_the_mean():
    values = [0.951, 0.957, 0.949, 0.962, 0.955]
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    e = estimate(values)
    assert e.n == 5 and e.mean == pytest.approx(np.mean(values))
    assert (e.low, e.high) == (pytest.approx(low), pytest.approx(high))
    assert math.isnan(estimate([0.9]).half_width) and estimate([0.9]).excludes_zero() is None
    assert estimate([1.0, math.nan, 3.0]).n == 2  # a missing value is not a zero


def test_the_interval_covers_the_true_mean_95_percent_of_the_time():
    """4 000 samples of 5 normal values: the count of intervals holding the mean is Binomial(4000, 0.95), so
    it lies within 3800 +- 4.5 sd (sd = 13.8) unless the interval is wrong (p < 1e-5 of a false alarm)."""
    rng = np.random.default_rng(11)
    trials, true_mean = 4000, 0.93
    covered = 0
    for _ in range(trials):
        e = estimate(rng.normal(true_mean, 0.01, 5).tolist())
        covered += e.low <= true_mean <= e.high
    sd = math.sqrt(trials * 0.95 * 0.05)
    assert abs(covered - 0.95 * trials) <= 4.5 * sd, covered


def test_a_real_difference_is_beyond_the_noise_and_none_is_not():
    rng = np.random.default_rng(3)
    assert estimate((0.02 + rng.normal(0, 0.004, 5)).tolist()).excludes_zero() is True
    hits = sum(bool(estimate(rng.normal(0, 0.004, 5).tolist()).excludes_zero()) for _ in range(2000))
    assert hits <= 0.05 * 2000 + 4.5 * math.sqrt(2000 * 0.05 * 0.95)  # false findings at most ~5 %


@dataclass
class Row:
    params: dict
    accuracy: float
    energy_j: float
    status: str = "FINISHED"
    metrics: dict = field(default_factory=dict)


def test_runs_that_differ_only_in_seed_are_one_point():
    rows = [Row({"ber": b, "seed": s}, acc, 1.0) for b, s, acc in
            (("1e-5", "0", 0.95), ("1e-4", "0", 0.90), ("1e-5", "1", 0.97), ("1e-4", "1", 0.10))]
    rows[3].metrics["diverged"] = 1.0
    assert group_points([r.params for r in rows], ["ber", "seed"]) == [({"ber": "1e-5"}, [0, 2]), ({"ber": "1e-4"}, [1, 3])]
    first, second = build_points(rows, ["ber", "seed"], {"dacc": lambda r: r.accuracy - 0.96})
    assert first.n == 2 and first.seeds == ["0", "1"] and first.usable
    assert first.accuracy.mean == pytest.approx(0.96) and first.extra["dacc"].mean == pytest.approx(0.0)
    # the diverged seed is counted and keeps the point off the front, but is not averaged in
    assert second.diverged == 1 and not second.usable and second.accuracy.n == 1

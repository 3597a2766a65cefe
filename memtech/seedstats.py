"""Runs that differ only in their seed are one point: n, mean and a 95 % confidence interval.

One test set scores a network to within one image (0.22 points on the digits' 449 images), and one seed's
result moves by more than that; an accuracy difference is a finding only when it is larger than what the seeds
show. The interval is Student's t interval of the mean over the point's seeds (95 %, n - 1 degrees of
freedom), which assumes the seeds' results scatter about normally; with one seed there is no interval.
A difference to a baseline is taken seed by seed (each run against the baseline of its own seed where the
baseline has one, as the all-SRAM baseline does), so the seed's own luck cancels: the paired interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

from scipy import stats

SEED_KEY = "seed"
CONFIDENCE = 0.95
INTERVAL_NAME = "95 % Student-t interval of the mean over seeds"


@dataclass(frozen=True)
class Estimate:
    """Mean of n values and the half-width of its 95 % interval (NaN with fewer than two values)."""

    n: int
    mean: float
    half_width: float

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def excludes_zero(self) -> bool | None:
        """Whether the interval lies wholly on one side of 0; None when there is no interval."""
        if not math.isfinite(self.half_width):
            return None
        return self.low > 0 or self.high < 0

    def to_json(self) -> dict[str, float]:
        return {"n": self.n, "mean": self.mean, "ci95_low": self.low, "ci95_high": self.high}


def estimate(values: Sequence[float]) -> Estimate:
    """The mean of the finite ``values`` and its Student-t 95 % interval."""
    finite = [float(v) for v in values if math.isfinite(v)]
    n = len(finite)
    if n == 0:
        return Estimate(0, math.nan, math.nan)
    mean = sum(finite) / n
    if n < 2:
        return Estimate(n, mean, math.nan)
    sd = math.sqrt(sum((v - mean) ** 2 for v in finite) / (n - 1))
    return Estimate(n, mean, float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n))


@dataclass
class Point:
    """The runs of one sweep point: same settings, different seeds (``rows`` are indices of runs)."""

    values: dict[str, str]  # the swept settings that define the point (the seed excluded)
    rows: list[int]
    seeds: list[str]
    accuracy: Estimate
    energy_j: Estimate
    diverged: int  # runs of the point that diverged
    unfinished: int  # runs not FINISHED
    extra: dict[str, Estimate] = field(default_factory=dict)  # e.g. "dacc_vs_sram": the paired difference

    @property
    def n(self) -> int:
        return len(self.rows)

    @property
    def usable(self) -> bool:
        """Only a point whose every run finished without diverging is a trade-off worth picking."""
        return self.diverged == 0 and self.unfinished == 0

    def to_json(self) -> dict[str, object]:
        return {"values": self.values, "seeds": self.seeds, "n": self.n, "diverged": self.diverged,
                "unfinished": self.unfinished, "accuracy": self.accuracy.to_json(),
                "energy_j": self.energy_j.to_json(), **{k: e.to_json() for k, e in self.extra.items()}}


def group_points(params: Sequence[dict[str, str]], swept: Sequence[str]) -> list[tuple[dict[str, str], list[int]]]:
    """(values, run indices) per point: runs with the same value of every swept key but the seed, in the order
    their first run appears."""
    keys = [k for k in swept if k != SEED_KEY]
    points: dict[tuple[str, ...], list[int]] = {}
    for index, p in enumerate(params):
        points.setdefault(tuple(p.get(k, "") for k in keys), []).append(index)
    return [(dict(zip(keys, values)), rows) for values, rows in points.items()]


def build_points(rows: Sequence[object], swept: Sequence[str],
                 differences: dict[str, Callable[[object], float]] | None = None) -> list[Point]:
    """Points of ``rows`` (RunRow-like: params, accuracy, energy_j, status, metrics); ``differences`` maps a
    column name to a per-run paired difference (e.g. accuracy minus its own seed's baseline)."""
    points = []
    for values, indices in group_points([r.params for r in rows], swept):
        members = [rows[i] for i in indices]
        usable = [r for r in members if r.status == "FINISHED" and not r.metrics.get("diverged")]
        point = Point(
            values=values, rows=indices, seeds=[r.params.get(SEED_KEY, "") for r in members],
            # the interval is over the runs a user would pick from: finished, not diverged
            accuracy=estimate([r.accuracy for r in usable]), energy_j=estimate([r.energy_j for r in usable]),
            diverged=sum(1 for r in members if r.metrics.get("diverged")),
            unfinished=sum(1 for r in members if r.status != "FINISHED"))
        for name, difference in (differences or {}).items():
            point.extra[name] = estimate([difference(r) for r in usable])
        points.append(point)
    return points

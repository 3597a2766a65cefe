"""``memtech compare``: the runs of an experiment or a sweep side by side, with the accuracy-vs-energy
Pareto front (higher accuracy, lower energy) marked in a table and drawn in a figure.

The target is a parent run id (its children: one sweep), an experiment name or id (all its runs except
sweep parents), or nothing (the latest sweep, else the ``memtech`` experiment).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from memtech import tracking
from memtech.errors import ConfigError

ACCURACY, ENERGY, LATENCY = "test_accuracy", "energy_j", "memory_latency_s"


@dataclass
class RunRow:
    run_id: str
    name: str
    status: str
    params: dict[str, str]
    metrics: dict[str, float]

    @property
    def accuracy(self) -> float:
        return self.metrics.get(ACCURACY, math.nan)

    @property
    def energy_j(self) -> float:
        return self.metrics.get(ENERGY, math.nan)


@dataclass
class Comparison:
    title: str
    rows: list[RunRow]
    swept: list[str]
    front: set[int]  # indices into rows
    table: str = ""
    figure: Path | None = None
    parent_run_id: str | None = None
    notes: list[str] = field(default_factory=list)


def pareto_front(points: Sequence[tuple[float, float]]) -> set[int]:
    """Indices of the (accuracy, energy) points no other point beats: no other has accuracy >= and
    energy <= with one of them strictly better. Points with a non-finite value are never on the front."""
    finite = [i for i, (a, e) in enumerate(points) if math.isfinite(a) and math.isfinite(e)]
    front = set()
    for i in finite:
        a, e = points[i]
        dominated = any(
            points[j][0] >= a and points[j][1] <= e and (points[j][0] > a or points[j][1] < e) for j in finite if j != i
        )
        if not dominated:
            front.add(i)
    return front


def swept_params(rows: Sequence[RunRow]) -> list[str]:
    """The params whose values differ between the runs (what the sweep varied)."""
    keys = sorted({k for row in rows for k in row.params})
    return [k for k in keys if len({row.params.get(k) for row in rows}) > 1]


def _short(key: str, keys: Sequence[str]) -> str:
    # "memories.mram.ber" -> "mram.ber" unless that would be ambiguous
    parts = key.split(".")
    for n in range(min(2, len(parts)), len(parts) + 1):
        candidate = ".".join(parts[-n:])
        if sum(1 for k in keys if k.endswith(candidate)) == 1:
            return candidate
    return key


def format_table(rows: Sequence[RunRow], swept: Sequence[str], front: set[int]) -> str:
    header = ["pareto", *(_short(k, swept) for k in swept), "accuracy", "energy_J", "latency_s", "status", "run"]
    body = []
    order = sorted(range(len(rows)), key=lambda i: (-(rows[i].accuracy if math.isfinite(rows[i].accuracy) else -1), rows[i].energy_j))
    for i in order:
        row = rows[i]
        status = row.status + (" diverged" if row.metrics.get("diverged") else "")
        body.append([
            "*" if i in front else "",
            *(row.params.get(k, "") for k in swept),
            f"{row.accuracy:.4f}" if math.isfinite(row.accuracy) else "-",
            f"{row.energy_j:.4g}" if math.isfinite(row.energy_j) else "-",
            f"{row.metrics[LATENCY]:.4g}" if LATENCY in row.metrics else "-",
            status,
            row.run_id[:8],
        ])
    widths = [max(len(str(r[c])) for r in [header, *body]) for c in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in [header, *body]]
    return "\n".join(lines)


def plot(rows: Sequence[RunRow], front: set[int], path: Path, title: str, swept: Sequence[str]) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display needed, and safe inside sweep workers
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    pts = [(r.energy_j, r.accuracy) for r in rows]
    ok = [i for i, (e, a) in enumerate(pts) if math.isfinite(e) and math.isfinite(a)]
    ax.scatter([pts[i][0] for i in ok if i not in front], [pts[i][1] for i in ok if i not in front], color="0.6", label="runs")
    on_front = sorted((pts[i] for i in front), key=lambda p: p[0])
    if on_front:
        ax.plot([p[0] for p in on_front], [p[1] for p in on_front], "o-", color="C3", label="Pareto front")
    for i in front:
        label = ", ".join(f"{_short(k, swept)}={rows[i].params.get(k, '')}" for k in swept)
        if label:
            ax.annotate(label, pts[i], fontsize=7, xytext=(4, -10), textcoords="offset points")
    energies = [pts[i][0] for i in ok]
    if energies and min(energies) > 0 and max(energies) / min(energies) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("energy [J]")
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _rows(runs: Sequence[Any]) -> list[RunRow]:
    return [
        RunRow(r.info.run_id, r.info.run_name or r.info.run_id[:8], r.info.status, dict(r.data.params), dict(r.data.metrics))
        for r in runs
    ]


def collect(target: str | None, uri: str) -> tuple[str, list[RunRow], str | None]:
    """(title, rows, parent run id or None) for a parent run id, an experiment name or id, or the default."""
    client = tracking.client(uri)
    if target is None:
        experiment = client.get_experiment_by_name(tracking.DEFAULT_EXPERIMENT)
        if experiment is None:
            raise ConfigError("target", None, f"an experiment or parent run (the store {uri} has no experiment "
                              f"{tracking.DEFAULT_EXPERIMENT!r} yet: run `memtech-run` first)")
        parents = client.search_runs([experiment.experiment_id], f"tags.`{tracking.PARENT_TAG}` = 'parent'",
                                     order_by=["attributes.start_time DESC"], max_results=1)
        if parents:
            target = parents[0].info.run_id
        else:
            target = experiment.name
    run = None
    if len(target) == 32 and all(c in "0123456789abcdef" for c in target):
        try:
            run = client.get_run(target)
        except Exception:  # noqa: BLE001 - not a run id after all
            run = None
    if run is not None:
        children = tracking.child_runs(uri, run.info.run_id)
        if not children:
            raise ConfigError("target", target, "a parent run with child runs (a sweep), or an experiment")
        return run.info.run_name or f"sweep {target}", _rows(children), run.info.run_id
    experiment = client.get_experiment_by_name(target)
    if experiment is None and target.isdigit():
        try:
            experiment = client.get_experiment(target)
        except Exception:  # noqa: BLE001
            experiment = None
    if experiment is None:
        names = ", ".join(e.name for e in client.search_experiments()) or "none"
        raise ConfigError("target", target, f"a parent run id or an experiment in {uri} (experiments: {names})")
    runs = client.search_runs([experiment.experiment_id], max_results=50000)
    runs = [r for r in runs if r.data.tags.get(tracking.PARENT_TAG) != "parent"]
    if not runs:
        raise ConfigError("target", target, "an experiment with runs")
    return f"experiment {experiment.name}", _rows(runs), None


def compare(
    target: str | None = None,
    *,
    uri: str | None = None,
    output: str | Path | None = None,
    log_to_parent: bool = True,
) -> Comparison:
    """Collect the runs, find the Pareto front, format the table and draw (and log) the figure."""
    uri = tracking.resolve_uri(uri)
    title, rows, parent = collect(target, uri)
    swept = swept_params(rows)
    finished = [i for i, r in enumerate(rows) if r.status == "FINISHED"]
    sub_front = pareto_front([(rows[i].accuracy, rows[i].energy_j) for i in finished])
    front = {finished[k] for k in sub_front}
    name = (parent or title.split(" ", 1)[-1]).replace("/", "_")
    path = Path(output) if output else tracking.runs_dir() / "compare" / f"{name}.png"
    figure = plot(rows, front, path, title, swept)
    result = Comparison(title, rows, swept, front, format_table(rows, swept, front), figure, parent)
    if parent and log_to_parent:
        tracking.client(uri).log_artifact(parent, str(figure), "compare")
    failed = sum(1 for r in rows if r.status != "FINISHED")
    if failed:
        result.notes.append(f"{failed} run(s) not FINISHED are left off the front")
    return result


def format_report(comparison: Comparison) -> str:
    lines = [f"{comparison.title}: {len(comparison.rows)} runs, * = on the accuracy-vs-energy Pareto front", comparison.table]
    lines += comparison.notes
    if comparison.figure:
        lines.append(f"figure: {comparison.figure}" + (" (also logged to the parent run)" if comparison.parent_run_id else ""))
    return "\n".join(lines)


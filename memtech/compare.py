"""``memtech compare``: the runs of an experiment or a sweep side by side, with the accuracy-vs-energy
Pareto front (higher accuracy, lower energy) marked in a table and drawn in a figure, and each run's energy
and accuracy measured against baselines.

The target is a parent run id or a unique prefix of one (its children: one sweep), an experiment name or id
(all its runs except sweep parents), or nothing (the latest sweep, else the ``memtech`` experiment).

Baselines:

* ``sram``: the latest finished all-SRAM run (tag ``memtech.all_sram``) of the same network and data (tag
  ``memtech.baseline_key``), found in the store by itself; rows of different networks get their own.
* any number given by the user (``--baseline``): a run id, a unique prefix of a compared run's id (else of
  any run's in the store), or a filter ``key=value,key=value`` on params that picks exactly one compared run;
  ``name=...`` names it.

A baseline that cannot be found is a note under the table, never an error: the table is still worth having.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from memtech import tracking
from memtech.errors import ConfigError
from memtech.seedstats import INTERVAL_NAME, SEED_KEY, Estimate, Point, build_points, estimate
from memtech.tables import grid

ACCURACY, ENERGY, LATENCY = "test_accuracy", "energy_j", "memory_latency_s"
DYNAMIC, STATIC, AREA = "dynamic_energy_j", "static_energy_j", "area_mm2"
SRAM = "sram"  # name of the automatic all-SRAM baseline
KEY_TAG = tracking.BASELINE_KEY_TAG
_RUN_ID = re.compile(r"[0-9a-f]{32}")
_MIN_PREFIX = tracking.MIN_RUN_ID_PREFIX
# Params no sweep varies on purpose: free text (a run's name and description change with the preset and
# would make the table hundreds of characters wide) and the phase internals a schedule is built from (its
# name and first_fraction say which schedule it is).
_NOT_SWEPT = re.compile(r"(name|description|resume|progress|plugins_strict|schedule\.phases\..*)")  # no effect on results
_MEMORY_AREA = re.compile(r"[^.]+\.area_mm2")  # "<memory>.area_mm2", not "<memory>.<phase>.…"


@dataclass
class RunRow:
    run_id: str
    name: str
    status: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str] = field(default_factory=dict)
    choices: frozenset[str] = frozenset()  # keys of params that are config group choices, not config values

    @property
    def accuracy(self) -> float:
        return self.metrics.get(ACCURACY, math.nan)

    @property
    def energy_j(self) -> float:
        return self.metrics.get(ENERGY, math.nan)

    @property
    def area_mm2(self) -> float:
        """Die area of every memory the run configured, or NaN when the run did not log any."""
        if AREA in self.metrics:
            return self.metrics[AREA]
        parts = [v for k, v in self.metrics.items() if _MEMORY_AREA.fullmatch(k)]
        return sum(parts) if parts else math.nan

    @property
    def baseline_key(self) -> str | None:
        return self.tags.get(KEY_TAG)


@dataclass
class Baseline:
    """A run the compared runs are measured against. ``key`` set: it serves only the rows with that
    ``memtech.baseline_key`` (the all-SRAM baseline of each network); None: every row."""

    name: str
    run: RunRow
    how: str  # how it was chosen, for the report
    key: str | None = None

    def serves(self, row: RunRow) -> bool:
        return self.key is None or row.baseline_key == self.key


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
    baselines: list[Baseline] = field(default_factory=list)
    logged: bool = False  # the figure was logged to the parent run
    points: list[Point] = field(default_factory=list)  # runs grouped by everything swept but the seed
    point_front: set[int] = field(default_factory=set)  # indices into points: the front of their means

    @property
    def seeded(self) -> bool:
        """Some point has several seeds: the table shows points with intervals, not runs."""
        return any(p.n > 1 for p in self.points)

    def baseline_for(self, row: RunRow, name: str) -> RunRow | None:
        return next((b.run for b in self.baselines if b.name == name and b.serves(row)), None)

    def relative(self, row: RunRow, name: str) -> tuple[float, float]:
        """(share of the baseline's energy saved, accuracy minus the baseline's) for ``row``; NaN when the
        baseline named ``name`` does not serve it or a value is missing. A negative share costs energy."""
        return relative(row, self.baseline_for(row, name))


def relative(row: RunRow, base: RunRow | None) -> tuple[float, float]:
    if base is None:
        return math.nan, math.nan
    saved = 1.0 - row.energy_j / base.energy_j if base.energy_j > 0 else math.nan
    return saved, row.accuracy - base.accuracy


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
    keys = sorted({k for row in rows for k in row.params if not _NOT_SWEPT.fullmatch(k)})
    return [k for k in keys if len({row.params.get(k) for row in rows}) > 1]


def _is_choice(key: str) -> bool:
    return "@" in key or "." not in key


def group_choices(overrides: str, params: dict[str, str]) -> dict[str, str]:
    """The config group choices among a run's overrides (``memory@memories.mram=stt_mram``,
    ``experiment=...``): they are no params, yet they are what a preset sweep varies."""
    out = {}
    for item in overrides.split():
        key, sep, value = item.partition("=")
        key = key.lstrip("+~")
        if sep and key and key not in params and _is_choice(key) and not key.startswith("hydra"):
            out[key] = value
    return out


def _partition(rows: Sequence[RunRow], key: str) -> tuple[int, ...]:
    first: dict[str | None, int] = {}
    return tuple(first.setdefault(row.params.get(key), len(first)) for row in rows)


def distinct_columns(rows: Sequence[RunRow], swept: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """``swept`` less the params that only follow another one (choosing the ``stt_mram_standard`` preset
    also changes Δ, the area, the read latency, ...): (the columns to show, shown column -> those it
    stands for). Group choices and then the shortest names stand for the others."""
    choices = {k for row in rows for k in row.choices}
    kept: dict[tuple[int, ...], str] = {}
    followers: dict[str, list[str]] = {}
    for key in sorted(swept, key=lambda k: (k not in choices, k.count("."), k)):
        signature = _partition(rows, key)
        if signature in kept:
            followers.setdefault(kept[signature], []).append(key)
        else:
            kept[signature] = key
    shown = set(kept.values())
    return [k for k in sorted(swept, key=lambda k: (k not in choices, k)) if k in shown], followers


def _short(key: str, keys: Sequence[str]) -> str:
    # "memories.mram.ber" -> "mram.ber" unless that would be ambiguous
    if "@" in key:  # "memory@memories.mram" -> "mram": the slot, whose values are the preset names
        slot = key.rsplit(".", 1)[-1]
        return slot if slot not in keys else key
    parts = key.split(".")
    # a list index says nothing without its list: "phases.1.placement.biases", never "1.placement.biases"
    latest_start = next((i - 1 for i, part in enumerate(parts) if part.isdigit() and i > 0), len(parts))
    for n in range(min(2, len(parts)), len(parts) + 1):
        candidate = ".".join(parts[-n:])
        if len(parts) - n > latest_start:
            continue
        if sum(1 for k in keys if k == candidate or k.endswith("." + candidate)) == 1:
            return candidate
    return key


# --- baselines -----------------------------------------------------------------------------------------
def find_sram_baselines(uri: str, rows: Sequence[RunRow], experiment_id: str | None) -> tuple[list[Baseline], list[str]]:
    """The latest finished all-SRAM run for each network-and-data key among ``rows`` (same experiment first,
    then any in the store), and a note for the rows no such run serves."""
    client = tracking.client(uri)
    keys = {row.baseline_key for row in rows if row.baseline_key}
    found: dict[str, Baseline] = {}
    if keys:
        others = [e.experiment_id for e in client.search_experiments() if e.experiment_id != experiment_id]
        for ids, scope in (([experiment_id] if experiment_id else [], "this experiment"), (others, "the store")):
            for run in tracking.all_sram_runs(uri, ids):
                key = run.data.tags.get(KEY_TAG)
                if key in keys and key not in found:
                    how = f"latest all-SRAM run of the same network and data in {scope}"
                    found[key] = Baseline(SRAM, _rows([run])[0], how, key)
    missing = [row for row in rows if row.baseline_key not in found]
    notes = []
    if missing:
        notes.append(f"no all-SRAM baseline of the same network and data for {len(missing)} of {len(rows)} run(s) "
                      f"in {uri}: `memtech-run experiment=sram_baseline` with the same trainer, dataset, seed and "
                      "processor records one" + ("" if len(missing) < len(rows) else "; the vs-sram columns are left out"))
    return list(found.values()), notes


def _same_value(wanted: str, logged: str | None) -> bool:
    if logged is None:
        return False
    if wanted == logged:
        return True
    try:  # "60" picks a run logged with 60.0
        return float(wanted) == float(logged)
    except ValueError:
        return False


def parse_baseline(spec: str, known_params: set[str]) -> tuple[str | None, str | None, dict[str, str]]:
    """``--baseline`` text -> (name or None, run id or prefix or None, filter). Forms: ``RUN_ID``,
    ``NAME=RUN_ID``, ``key=value[,key=value...]``, ``NAME=key=value[,key=value...]``."""
    spec = spec.strip()
    expected = "RUN_ID, NAME=RUN_ID, key=value[,key=value...] or NAME=key=value[,key=value...]"
    if not spec:
        raise ConfigError("--baseline", spec, expected)
    name = None
    items = spec.split(",")
    first = items[0]
    head, _, tail = first.partition("=")
    # NAME=RUN_ID against key=value: a name is a plain word (params have dots) and a run id is hex
    named_run = len(items) == 1 and head not in known_params and re.fullmatch(r"\w+", head) and re.fullmatch(r"[0-9a-f]+", tail)
    if first.count("=") >= 2 or named_run:
        name, items[0] = head, tail
        if not name:
            raise ConfigError("--baseline", spec, expected)
    if len(items) == 1 and "=" not in items[0]:
        if not re.fullmatch(r"[0-9a-f]+", items[0]):
            raise ConfigError("--baseline", spec, expected + " (a run id is 32 hex digits)")
        return name, items[0], {}
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ConfigError("--baseline", spec, expected)
        pairs[key.strip()] = value.strip()
    return name, None, pairs


def resolve_baseline(uri: str, spec: str, rows: Sequence[RunRow], index: int) -> tuple[Baseline | None, str | None]:
    """A user's ``--baseline``: the baseline, or None and the note that says why none was found. An
    ambiguous choice (a prefix or filter that matches several runs) is an error: guessing would mislead."""
    name, run_id, pairs = parse_baseline(spec, {k for row in rows for k in row.params})
    name = name or f"b{index}"
    if run_id is not None:
        if _RUN_ID.fullmatch(run_id):
            match = next((row for row in rows if row.run_id == run_id), None)
            if match is None:
                try:
                    match = _rows([tracking.client(uri).get_run(run_id)])[0]
                except Exception:  # noqa: BLE001 - MLflow raises its own types for an unknown id
                    return None, f"baseline {name}: no run {run_id} in {uri}"
            return Baseline(name, match, f"run {run_id}"), None
        if len(run_id) < _MIN_PREFIX:
            raise ConfigError("--baseline", spec, f"a run id of 32 hex digits or a prefix of at least {_MIN_PREFIX}")
        matches = [row for row in rows if row.run_id.startswith(run_id)]
        how = f"run id prefix {run_id}"
        if not matches:  # a run outside the comparison, such as a baseline in another experiment
            try:
                full = tracking.resolve_run_id(uri, run_id, key="--baseline")
            except tracking.AmbiguousRunId:
                raise
            except ConfigError:
                return None, f"baseline {name}: no run id starts with {run_id} in {uri}"
            return Baseline(name, _rows([tracking.client(uri).get_run(full)])[0], how), None
    else:
        matches = [row for row in rows if all(_same_value(v, row.params.get(k)) for k, v in pairs.items())]
        finished = [row for row in matches if row.status == "FINISHED"]
        matches = finished or matches
        how = ",".join(f"{k}={v}" for k, v in pairs.items())
    if not matches:
        return None, f"baseline {name}: no compared run matches {how}"
    if len(matches) > 1:
        ids = ", ".join(row.run_id[:8] for row in matches)
        raise ConfigError("--baseline", spec, f"a choice that matches one run, not {len(matches)} ({ids})")
    return Baseline(name, matches[0], how), None


# --- output --------------------------------------------------------------------------------------------
def _fmt(value: float, spec: str = ".4g") -> str:
    return format(value, spec) if math.isfinite(value) else "-"


def _pct(value: float) -> str:
    return f"{100 * value:+.1f}%" if math.isfinite(value) else "-"


def _names(baselines: Sequence[Baseline]) -> list[str]:
    return list(dict.fromkeys(b.name for b in baselines))


def _columns(rows: Sequence[RunRow]) -> tuple[bool, bool]:
    split = any(DYNAMIC in r.metrics or STATIC in r.metrics for r in rows)
    area = any(math.isfinite(r.area_mm2) for r in rows)
    return split, area


def format_table(rows: Sequence[RunRow], swept: Sequence[str], front: set[int], baselines: Sequence[Baseline] = ()) -> str:
    split, area = _columns([*rows, *(b.run for b in baselines)])
    names = _names(baselines)
    header = ["pareto", *(_short(k, swept) for k in swept), "accuracy", "energy_J"]
    header += ["dynamic_J", "static_J"] if split else []
    header += ["area_mm2"] if area else []
    for name in names:
        header += [f"saved_vs_{name}", f"dacc_vs_{name}"]
    header += ["latency_s", "status", "run"]
    body = []
    order = sorted(range(len(rows)), key=lambda i: (-(rows[i].accuracy if math.isfinite(rows[i].accuracy) else -1), rows[i].energy_j))
    for i in order:
        row = rows[i]
        status = row.status + (" diverged" if row.metrics.get("diverged") else "")
        line = ["*" if i in front else "", *(row.params.get(k, "") for k in swept), _fmt(row.accuracy, ".4f"), _fmt(row.energy_j)]
        if split:
            line += [_fmt(row.metrics.get(DYNAMIC, math.nan)), _fmt(row.metrics.get(STATIC, math.nan))]
        if area:
            line += [_fmt(row.area_mm2)]
        for name in names:
            base = next((b.run for b in baselines if b.name == name and b.serves(row)), None)
            saved, dacc = relative(row, base)
            # a diverged run stopped early: its energy is that of less work, never a saving
            line += ["stopped" if row.metrics.get("diverged") else _pct(saved), _fmt(dacc, "+.4f")]
        line += [_fmt(row.metrics.get(LATENCY, math.nan)), status, row.run_id[:8]]
        body.append(line)
    return "\n".join(grid(header, body))


def format_baselines(baselines: Sequence[Baseline]) -> str:
    """The baselines' own figures in the table's units, so the dynamic/static split and the area of each
    side can be read directly: where a saving comes from (writes, leakage, density) shows here."""
    if not baselines:
        return ""
    split, area = _columns([b.run for b in baselines])
    header = ["baseline", "accuracy", "energy_J", *(["dynamic_J", "static_J"] if split else []), *(["area_mm2"] if area else []),
              "run", "chosen as"]
    body = []
    for b in baselines:
        line = [b.name, _fmt(b.run.accuracy, ".4f"), _fmt(b.run.energy_j)]
        if split:
            line += [_fmt(b.run.metrics.get(DYNAMIC, math.nan)), _fmt(b.run.metrics.get(STATIC, math.nan))]
        if area:
            line += [_fmt(b.run.area_mm2)]
        body.append(line + [b.run.run_id[:8], b.how])
    return "\n".join(grid(header, body))


def format_point_table(comparison: "Comparison") -> str:
    """One line per sweep point: n seeds, mean and 95 % interval of accuracy and energy, and per baseline the
    mean energy saved, the paired accuracy difference with its interval, and whether it is beyond the noise."""
    rows, points, baselines = comparison.rows, comparison.points, comparison.baselines
    keys = [k for k in comparison.swept if k != SEED_KEY]
    names = _names(baselines)
    split, area = _columns([*rows, *(b.run for b in baselines)])
    header = ["pareto", *(_short(k, keys) for k in keys), "n", "accuracy", "acc_ci95", "energy_J", "energy_ci95"]
    header += ["dynamic_J", "static_J"] if split else []
    header += ["area_mm2"] if area else []
    for name in names:
        header += [f"saved_vs_{name}", f"dacc_vs_{name}", f"dacc_ci95_vs_{name}", f"beyond_noise_vs_{name}"]
    header += ["diverged", "runs"]
    body = []
    order = sorted(range(len(points)), key=lambda i: (-(points[i].accuracy.mean if math.isfinite(points[i].accuracy.mean)
                                                         else -1), points[i].energy_j.mean))
    for i in order:
        point = points[i]
        line = ["*" if i in comparison.point_front else "", *(point.values.get(k, "") for k in keys), str(point.n),
                _fmt(point.accuracy.mean, ".4f"), _interval(point.accuracy, ".4f"),
                _fmt(point.energy_j.mean), _interval(point.energy_j, ".4g")]
        members = [rows[r] for r in point.rows]
        if split:
            line += [_fmt(estimate([m.metrics.get(DYNAMIC, math.nan) for m in members]).mean),
                     _fmt(estimate([m.metrics.get(STATIC, math.nan) for m in members]).mean)]
        if area:
            line += [_fmt(estimate([m.area_mm2 for m in members]).mean)]
        for name in names:
            saved, dacc = point.extra[f"saved_vs_{name}"], point.extra[f"dacc_vs_{name}"]
            beyond = dacc.excludes_zero()
            line += [_pct(saved.mean), _fmt(dacc.mean, "+.4f"), _interval(dacc, "+.4f"),
                     "?" if beyond is None else ("yes" if beyond else "no")]
        line += [f"{point.diverged}/{point.n}" if point.diverged else "",
                 ",".join(rows[r].run_id[:8] for r in point.rows[:2]) + (",..." if point.n > 2 else "")]
        body.append(line)
    return "\n".join(grid(header, body))


def _interval(estimate: Estimate, spec: str) -> str:
    if not math.isfinite(estimate.half_width):
        return "-"
    return f"[{format(estimate.low, spec)}, {format(estimate.high, spec)}]"


def figure(comparison: "Comparison") -> Any:
    """The comparison's accuracy-vs-energy figure (:mod:`memtech.figures`); the caller closes it."""
    from memtech import figures

    return figures.figure(comparison)


def _rows(runs: Sequence[Any]) -> list[RunRow]:
    rows = []
    for r in runs:
        params = dict(r.data.params)
        choices = group_choices(r.data.tags.get("memtech.overrides", ""), params)
        params.update(choices)
        rows.append(RunRow(r.info.run_id, r.info.run_name or r.info.run_id[:8], r.info.status, params, dict(r.data.metrics),
                           dict(r.data.tags), frozenset(choices)))
    return rows


def collect(target: str | None, uri: str) -> tuple[str, list[RunRow], str | None]:
    """(title, rows, parent run id or None) for a parent run id, an experiment name or id, or the default."""
    title, rows, parent, _ = _collect(target, uri)
    return title, rows, parent


def _experiment_names(client: Any) -> str:
    return ", ".join(sorted(e.name for e in client.search_experiments())) or "none"


def _collect(target: str | None, uri: str) -> tuple[str, list[RunRow], str | None, str]:
    if not tracking.store_exists(uri):  # opening it would leave an empty mlflow.db behind
        raise ConfigError("--tracking-uri", uri, "an existing MLflow store (none there yet: record runs with "
                          "`memtech-run` first, or point --tracking-uri / $MLFLOW_TRACKING_URI at one)")
    client = tracking.client(uri)
    if target is None:
        experiment = client.get_experiment_by_name(tracking.DEFAULT_EXPERIMENT)
        if experiment is None:
            raise ConfigError("target", tracking.DEFAULT_EXPERIMENT, f"an experiment or parent run in {uri} (the "
                              f"default experiment is missing; experiments there: {_experiment_names(client)})")
        parents = client.search_runs([experiment.experiment_id], f"tags.`{tracking.PARENT_TAG}` = 'parent'",
                                     order_by=["attributes.start_time DESC"], max_results=1)
        if parents:
            target = parents[0].info.run_id
        else:
            target = experiment.name
    run = None
    experiment = client.get_experiment_by_name(target)
    if experiment is None and tracking.looks_like_run_id(target):
        try:
            run = client.get_run(tracking.resolve_run_id(uri, target, key="target"))
        except tracking.AmbiguousRunId:
            raise
        except ConfigError:  # no such run: perhaps an experiment id
            run = None
    if run is not None:
        children = tracking.child_runs(uri, run.info.run_id)
        if not children:
            raise ConfigError("target", target, "a parent run with child runs (a sweep), or an experiment")
        return run.info.run_name or f"sweep {run.info.run_id}", _rows(children), run.info.run_id, run.info.experiment_id
    if experiment is None and target.isdigit():
        try:
            experiment = client.get_experiment(target)
        except Exception:  # noqa: BLE001
            experiment = None
    if experiment is None:
        raise ConfigError("target", target, f"a parent run id or an experiment in {uri} (a run id prefix of at "
                          f"least {_MIN_PREFIX} hex digits will do; experiments: {_experiment_names(client)})")
    runs = client.search_runs([experiment.experiment_id], max_results=50000)
    runs = [r for r in runs if r.data.tags.get(tracking.PARENT_TAG) != "parent"]
    if not runs:
        raise ConfigError("target", target, "an experiment with runs")
    return f"experiment {experiment.name}", _rows(runs), None, experiment.experiment_id


def compare(
    target: str | None = None,
    *,
    uri: str | None = None,
    output: str | Path | None = None,
    log_to_parent: bool = True,
    baselines: Sequence[str] = (),
    image_format: str = "png",
    dpi: int = 150,
) -> Comparison:
    """Collect the runs, find the Pareto front and the baselines, format the table and draw (and log) the
    figure. ``baselines`` are ``--baseline`` texts (see :func:`parse_baseline`) besides the all-SRAM one."""
    uri = tracking.resolve_uri(uri)
    title, rows, parent, experiment_id = _collect(target, uri)
    swept, followers = distinct_columns(rows, swept_params(rows))
    # A diverged network is recorded, but it is no trade-off anyone would pick: it stays off the front.
    finished = [i for i, r in enumerate(rows) if r.status == "FINISHED" and not r.metrics.get("diverged")]
    sub_front = pareto_front([(rows[i].accuracy, rows[i].energy_j) for i in finished])
    front = {finished[k] for k in sub_front}
    chosen, notes = find_sram_baselines(uri, rows, experiment_id)
    for n, spec in enumerate(baselines, start=1):
        baseline, note = resolve_baseline(uri, spec, rows, n)
        if baseline is not None and baseline.name in _names(chosen):
            raise ConfigError("--baseline", spec, f"a name not already used ({', '.join(_names(chosen))})")
        if baseline is not None:
            chosen.append(baseline)
            keys = {row.baseline_key for row in rows} - {None}
            if baseline.run.baseline_key and keys and keys != {baseline.run.baseline_key}:
                notes.append(f"baseline {baseline.name} trained another network or data than some compared runs "
                             "(different trainer, dataset, seed or processor): its ratios compare unlike runs")
        if note:
            notes.append(note)
    from memtech import figures

    if image_format not in figures.FORMATS:
        raise ConfigError("--format", image_format, "one of " + ", ".join(figures.FORMATS))
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 10 <= dpi <= 2400:
        raise ConfigError("--dpi", dpi, "a whole number of dots per inch from 10 to 2400")
    name = (parent or title.split(" ", 1)[-1]).replace("/", "_")
    path = Path(output) if output else tracking.runs_dir() / "compare" / f"{name}.{image_format}"
    result = Comparison(title, rows, swept, front, "", None, parent, baselines=chosen)
    result.points = build_points(rows, swept, _differences(result))
    usable = [i for i, p in enumerate(result.points) if p.usable]
    result.point_front = {usable[k] for k in pareto_front(
        [(result.points[i].accuracy.mean, result.points[i].energy_j.mean) for i in usable])}
    if result.seeded:  # the front of the means, and the runs that make it
        result.front = {r for i in result.point_front for r in result.points[i].rows}
        result.table = format_point_table(result)
        result.notes.append(f"accuracy, energy_J: mean over a point's seeds; *_ci95: {INTERVAL_NAME}; dacc_vs_X: "
                            "paired by seed (each run against its own seed's baseline); beyond_noise_vs_X: whether "
                            "that interval excludes 0 (? with fewer than 2 seeds)")
    else:
        result.table = format_table(rows, swept, front, chosen)
    client = tracking.client(uri) if parent and log_to_parent else None
    result.figure = figures.save(result, path, dpi, log_to=(client, parent) if client is not None else None)
    if client is not None:
        # the per-point statistics, as the table shows them, for scripts and the MLflow UI
        client.log_dict(parent, {"interval": INTERVAL_NAME, "points": [p.to_json() for p in result.points]},
                        "compare/points.json")
        client.log_text(parent, result.table + "\n", "compare/table.txt")
        result.logged = True
    for key, others in followers.items():
        result.notes.append(f"{_short(key, swept)} also sets {', '.join(_short(k, others) for k in others)}")
    failed = sum(1 for r in rows if r.status != "FINISHED")
    if failed:
        result.notes.append(f"{failed} run(s) not FINISHED are left off the front")
    result.notes += notes
    return result


def _differences(comparison: Comparison) -> dict[str, Any]:
    """Per-run paired differences to each baseline (energy share saved, accuracy difference)."""
    out = {}
    for name in _names(comparison.baselines):
        out[f"saved_vs_{name}"] = lambda row, name=name: comparison.relative(row, name)[0]
        out[f"dacc_vs_{name}"] = lambda row, name=name: comparison.relative(row, name)[1]
    return out


def format_report(comparison: Comparison) -> str:
    what = (f"{len(comparison.points)} points of {len(comparison.rows)} runs (seeds pooled)" if comparison.seeded
            else f"{len(comparison.rows)} runs")
    lines = [f"{comparison.title}: {what}, * = on the accuracy-vs-energy Pareto front", comparison.table]
    if comparison.baselines:
        lines.append("saved_vs_X = share of baseline X's energy saved (negative: costs more; stopped: a diverged run, "
                     "whose energy is that of a partial run); dacc_vs_X = accuracy minus X's")
        lines.append(format_baselines(comparison.baselines))
    lines += comparison.notes
    if comparison.figure:
        lines.append(f"figure: {comparison.figure}" + (" (also logged to the parent run)" if comparison.logged else ""))
    return "\n".join(lines)

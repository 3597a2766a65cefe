"""``memtech threshold``: the threshold for convergence of a monotone knob.

For a knob that makes training worse in one direction (``memories.mram.ber`` up, ``memories.mram.write_pulse_ns``
down, an SRAM supply voltage down, a DRAM refresh interval up, ...) and a base config, find the extreme value
at which training still works: every one of N seeds converges (no replica diverges) and their mean test
accuracy is within δ of the error-free baseline (the same network, data and seeds with every tensor in SRAM).

The search is a bisection on a log scale. The user gives two values of the knob, one on each side of the
threshold; each probe trains its N seeds as one batched job (replicas, memtech.experiment.run_batch), and the
bracket [passing value, failing value] shrinks until its two ends are within a factor ``resolution`` of each
other. The threshold reported is the passing end: the most error-prone value shown to work.

Every probe is an MLflow child run under one parent run, whose metrics and tags give the threshold, the
bracket and the criterion; a figure of the mean accuracy (with its 95 % interval) against the knob marks it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from memtech.errors import ConfigError
from memtech.seedstats import INTERVAL_NAME, Estimate, estimate


@dataclass(frozen=True)
class Criterion:
    """What a probe must show to pass."""

    seeds: int = 5
    delta: float = 0.01  # accuracy below the baseline's mean that is still "within"

    def describe(self, baseline: float) -> str:
        return (f"all {self.seeds} seeds converge and their mean test accuracy is at least the all-SRAM baseline's "
                f"{baseline:.4f} minus {self.delta:g}")


@dataclass
class Probe:
    value: float
    accuracies: list[float]
    energies_j: list[float]
    diverged: int
    passed: bool = False
    run_id: str | None = None

    @property
    def accuracy(self) -> Estimate:
        return estimate(self.accuracies)


@dataclass
class Search:
    knob: str
    criterion: Criterion
    baseline: Estimate
    probes: list[Probe] = field(default_factory=list)
    passing: float | None = None
    failing: float | None = None
    parent_run_id: str | None = None
    figure: Path | None = None


def set_key(config: dict[str, Any], key: str, value: Any) -> None:
    """Set the dotted ``key`` of a plain config; a ConfigError where the key is not in it."""
    node: Any = config
    *path, last = key.split(".")
    for part in path:
        if not isinstance(node, dict) or part not in node:
            raise ConfigError("knob", key, "a key of the composed config (e.g. memories.mram.ber)")
        node = node[part]
    if not isinstance(node, dict) or last not in node:
        raise ConfigError("knob", key, "a key of the composed config (e.g. memories.mram.ber)")
    node[last] = value


def compose(overrides: Sequence[str]) -> dict[str, Any]:
    """The plain config ``memtech-run`` would compose from ``overrides`` (without Hydra's own section)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from omegaconf import OmegaConf

    import memtech.hydra_main  # noqa: F401 - the resolvers and the plugins' config options

    with initialize_config_module("memtech_conf", version_base="1.3"):
        config = OmegaConf.to_container(hydra_compose("config", overrides=list(overrides)), resolve=True)
    assert isinstance(config, dict)
    config.pop("hydra", None)
    return config


def _train(configs: list[dict[str, Any]], data: Any) -> list[Any]:
    from memtech.experiment import run_batch

    return run_batch(configs, data=data)


def seeded_runs(config: dict[str, Any], seeds: int, data: Any,
                train: Callable[[list[dict[str, Any]], Any], list[Any]] = _train) -> list[Any]:
    """``config`` trained with seeds 0..seeds-1 as replicas of one batched job; their results."""
    import copy

    replicas = []
    for seed in range(seeds):
        replica = copy.deepcopy(config)
        replica["seed"] = seed
        replicas.append(replica)
    return train(replicas, data)


def probe(base: dict[str, Any], knob: str, value: float, seeds: int, data: Any,
          train: Callable[[list[dict[str, Any]], Any], list[Any]] = _train) -> Probe:
    """Train ``seeds`` replicas of ``base`` with ``knob`` = ``value`` as one batched job."""
    import copy

    config = copy.deepcopy(base)
    set_key(config, knob, value)
    results = seeded_runs(config, seeds, data, train)
    return Probe(value, [r.final_test_accuracy for r in results], [r.total_energy_j for r in results],
                 sum(bool(r.diverged) for r in results))


def passes(result: Probe, baseline: Estimate, criterion: Criterion) -> bool:
    return (result.diverged == 0 and len(result.accuracies) == criterion.seeds
            and result.accuracy.mean >= baseline.mean - criterion.delta)


def bisect(low: float, high: float, evaluate: Callable[[float], bool], resolution: float) -> tuple[float, float, list[float]]:
    """(passing value, failing value, values probed) of a monotone criterion between ``low`` and ``high``,
    halving the bracket on a log scale until its ends are within a factor ``resolution``."""
    if not (low > 0 and high > 0):
        raise ConfigError("--range", (low, high), "two positive values (the search is on a log scale)")
    if resolution <= 1:
        raise ConfigError("--resolution", resolution, "a factor greater than 1 (2: the bracket ends within 2x)")
    probed = [low, high]
    low_passes, high_passes = evaluate(low), evaluate(high)
    if low_passes == high_passes:
        side = "pass" if low_passes else "fail"
        raise ConfigError("--range", (low, high), f"two values on either side of the threshold: both {side} the "
                          "criterion (widen the range)")
    passing, failing = (low, high) if low_passes else (high, low)
    while max(passing, failing) / min(passing, failing) > resolution:
        middle = math.sqrt(passing * failing)
        probed.append(middle)
        if evaluate(middle):
            passing = middle
        else:
            failing = middle
    return passing, failing, probed


def find_threshold(knob: str, value_range: tuple[float, float], overrides: Sequence[str] = (),
                   criterion: Criterion = Criterion(), resolution: float = 2.0, uri: str | None = None,
                   experiment: str = "memtech", output: Path | None = None,
                   say: Callable[[str], None] = print) -> Search:
    """The whole search (see the module's docstring); records it in the MLflow store ``uri`` unless None."""
    from memtech.experiment import build_spec, preflight

    if isinstance(criterion.seeds, bool) or not isinstance(criterion.seeds, int) or criterion.seeds < 2:
        raise ConfigError("--seeds", criterion.seeds, "an integer >= 2 (a mean over seeds needs an interval)")
    if not (criterion.delta >= 0 and math.isfinite(criterion.delta)):
        raise ConfigError("--delta", criterion.delta, "a finite accuracy difference >= 0 (0.01: one point)")
    import copy

    base = compose(overrides)
    for value in value_range:  # the knob exists and both ends make valid configs: checked before any work
        checked = copy.deepcopy(base)
        set_key(checked, knob, value)
        build_spec(checked)
    baseline_config = compose([o for o in overrides if not o.split("=", 1)[0].lstrip("+~").startswith("schedule")]
                              + ["schedule=all_sram"])
    data = preflight(build_spec(base), None)  # read and checked once; every probe and the baseline share it

    search = Search(knob, criterion, estimate(_baseline(baseline_config, criterion.seeds, data)))
    say(f"memtech threshold: {knob}; all-SRAM baseline accuracy {search.baseline.mean:.4f} over {criterion.seeds} "
        f"seeds; criterion: {criterion.describe(search.baseline.mean)}")
    recorder = _Recorder(uri, experiment, search, value_range, resolution, overrides) if uri else None

    def evaluate(value: float) -> bool:
        result = probe(base, knob, value, criterion.seeds, data)
        result.passed = passes(result, search.baseline, criterion)
        search.probes.append(result)
        est = result.accuracy
        say(f"  {knob}={value:.4g}: accuracy {est.mean:.4f} [{est.low:.4f}, {est.high:.4f}], "
            f"{result.diverged} of {criterion.seeds} diverged -> {'pass' if result.passed else 'fail'}")
        if recorder:
            recorder.probe(result)
        return result.passed

    try:
        search.passing, search.failing, _ = bisect(*value_range, evaluate, resolution)
    except BaseException as exc:
        if recorder:  # Ctrl-C or SIGTERM: KILLED, as memtech-run marks an interrupted run
            recorder.close("FAILED" if isinstance(exc, Exception) else "KILLED")
        raise
    from memtech import figures

    search.figure = figures.save_threshold(search, output or _default_figure(search, recorder),
                                           log_to=recorder.log_to if recorder else None)
    if recorder:
        recorder.finish()
        search.parent_run_id = recorder.parent
    say(f"threshold for convergence: {knob} = {search.passing:.4g} (bracket [{min(search.passing, search.failing):.4g}, "
        f"{max(search.passing, search.failing):.4g}], resolution {resolution:g}x); figure: {search.figure}")
    return search


def _baseline(config: dict[str, Any], seeds: int, data: Any) -> list[float]:
    return [r.final_test_accuracy for r in seeded_runs(config, seeds, data)]


def _default_figure(search: Search, recorder: "_Recorder | None") -> Path:
    """runs/threshold/<knob>-<parent run id>.png: two searches on one knob keep a figure each (like
    ``memtech compare``'s runs/compare/<run id>.png); <knob>.png for a search that is not recorded."""
    from memtech import tracking

    name = f"{search.knob}-{recorder.parent}" if recorder else search.knob
    return tracking.runs_dir() / "threshold" / f"{name}.png"


class _Recorder:
    """The search in MLflow: a parent run, one child run per probe."""

    def __init__(self, uri: str, experiment: str, search: Search, value_range: tuple[float, float],
                 resolution: float, overrides: Sequence[str]):
        from memtech import tracking

        self.uri, self.search = uri, search
        self.client = tracking.client(uri)
        self.experiment_id = tracking.prepare_store(uri, experiment)
        tags = {"memtech.threshold.knob": search.knob,
                "memtech.threshold.criterion": search.criterion.describe(search.baseline.mean),
                "memtech.overrides": " ".join(overrides)}
        self.parent = tracking.start_parent_run(uri, experiment, f"threshold {search.knob}", tags)
        self.log_to = (self.client, self.parent)
        self.client.log_batch(self.parent, params=[
            _param("knob", search.knob), _param("range", f"{value_range[0]:g},{value_range[1]:g}"),
            _param("resolution", f"{resolution:g}"), _param("seeds", str(search.criterion.seeds)),
            _param("delta", f"{search.criterion.delta:g}")])
        self._metric(self.parent, "baseline_accuracy", search.baseline.mean)

    def _metric(self, run_id: str, key: str, value: float, step: int = 0) -> None:
        import time

        if math.isfinite(value):
            self.client.log_metric(run_id, key, value, int(time.time() * 1000), step)

    def probe(self, result: Probe) -> None:
        from memtech import tracking

        run = self.client.create_run(self.experiment_id, run_name=f"{self.search.knob}={result.value:.4g}",
                                     tags={tracking.PARENT_ID_TAG: self.parent,
                                           "memtech.threshold.passed": str(result.passed).lower()})
        result.run_id = run.info.run_id
        self.client.log_param(result.run_id, self.search.knob, f"{result.value:g}")
        est = result.accuracy
        for key, value in (("accuracy_mean", est.mean), ("accuracy_ci95_low", est.low), ("accuracy_ci95_high", est.high),
                           ("diverged_seeds", float(result.diverged)), ("passed", float(result.passed)),
                           ("energy_j_mean", estimate(result.energies_j).mean)):
            self._metric(result.run_id, key, value)
        self.client.set_terminated(result.run_id, "FINISHED")
        self._metric(self.parent, "probe_accuracy_mean", est.mean, step=len(self.search.probes))

    def finish(self) -> None:
        search = self.search
        self._metric(self.parent, "threshold", float(search.passing))
        self._metric(self.parent, "bracket_low", float(min(search.passing, search.failing)))
        self._metric(self.parent, "bracket_high", float(max(search.passing, search.failing)))
        self.client.set_tag(self.parent, "memtech.threshold", f"{search.passing:g}")
        self.client.set_tag(self.parent, "memtech.threshold.interval", INTERVAL_NAME)
        self.close("FINISHED")

    def close(self, status: str) -> None:
        self.client.set_terminated(self.parent, status)


def _param(key: str, value: str) -> Any:
    from mlflow.entities import Param

    return Param(key, value)


def parse_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError("--range", text, "two numbers A,B on either side of the threshold, e.g. 1e-9,1e-3") from None
    return low, high

"""``memtech search``: the energy-optimal schedule under an accuracy constraint, found with Optuna.

The search space is the patent's hybrid schedule: the share of iterations in MRAM (``schedule.first_fraction``),
the MRAM write pulse (``memories.mram.write_pulse_ns``, with the write error rate following from the physics)
or the MRAM bit error rate (``memories.mram.ber``), and the protection of the MRAM words. Every trial trains N
seeds as one batched job; it is feasible when none diverges and their mean test accuracy is at least the
all-SRAM baseline's minus δ. Optuna's TPE sampler (seeded: the same seed gives the same search) minimises the
mean energy and maximises the mean accuracy under that constraint. The result: the feasible trial with the
least energy, the Pareto front of energy against accuracy, and the saving against all-SRAM and against
standard (retention-grade) MRAM. Every trial is an MLflow child run under one parent run.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from memtech.errors import ConfigError
from memtech.seedstats import estimate
from memtech.threshold import compose, seeded_runs, set_key

PROTECTIONS = ("none", "parity", "secded", "sanity")
KNOBS = {"pulse": ("memories.mram.write_pulse_ns", 4.0, 20.0), "ber": ("memories.mram.ber", 1e-9, 1e-2)}
STANDARD_MRAM = ["memory@memories.mram=stt_mram_standard", "memories.mram.ber=null", "memories.mram.write_pulse_ns=20"]


@dataclass
class Trial:
    number: int
    params: dict[str, Any]
    accuracy: float
    energy_j: float
    diverged: int
    feasible: bool
    run_id: str | None = None


@dataclass
class SearchResult:
    baseline_accuracy: float
    sram_energy_j: float
    standard_energy_j: float
    trials: list[Trial] = field(default_factory=list)
    parent_run_id: str | None = None

    @property
    def best(self) -> Trial | None:
        feasible = [t for t in self.trials if t.feasible]
        return min(feasible, key=lambda t: (t.energy_j, -t.accuracy)) if feasible else None

    @property
    def front(self) -> list[Trial]:
        """Feasible trials no other feasible trial beats on both energy and accuracy, by energy."""
        from memtech.compare import pareto_front

        feasible = [t for t in self.trials if t.feasible]
        on_front = pareto_front([(t.accuracy, t.energy_j) for t in feasible])
        return sorted((feasible[i] for i in on_front), key=lambda t: t.energy_j)

    def saving(self, reference_j: float) -> float:
        best = self.best
        return math.nan if best is None else 1.0 - best.energy_j / reference_j


def _mean(results: Sequence[Any], metric: Callable[[Any], float]) -> float:
    return estimate([metric(r) for r in results]).mean


def search(overrides: Sequence[str] = (), *, trials: int = 30, seeds: int = 5, delta: float = 0.01,
           knob: str = "pulse", seed: int = 0, uri: str | None = None, experiment: str = "memtech",
           say: Callable[[str], None] = print) -> SearchResult:
    """Run the search (see the module's docstring); record it in the MLflow store ``uri`` unless None."""
    import optuna

    from memtech.experiment import build_spec, preflight

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError("--trials", trials, "an integer >= 1")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 2:
        raise ConfigError("--seeds", seeds, "an integer >= 2 (a mean over seeds needs an interval)")
    if not (delta >= 0 and math.isfinite(delta)):
        raise ConfigError("--delta", delta, "a finite accuracy difference >= 0 (0.01: one point)")
    if knob not in KNOBS:
        raise ConfigError("--knob", knob, f"one of {', '.join(KNOBS)}")
    key, low, high = KNOBS[knob]
    # the write pulse searched: the error rate follows from it (ber null), from the relaxed cell's 10 ns to start
    base = compose([*overrides, "schedule=mram_then_sram",
                    *(["memories.mram.ber=null", "memories.mram.write_pulse_ns=10"] if knob == "pulse" else [])])
    for corner in ({key: low, "schedule.first_fraction": 0.05}, {key: high, "schedule.first_fraction": 0.95}):
        checked = copy.deepcopy(base)  # the space's corners make valid configs: checked before any work
        for name, value in corner.items():
            set_key(checked, name, value)
        build_spec(checked)
    no_schedule = [o for o in overrides if not o.split("=", 1)[0].lstrip("+~").startswith(("schedule", "memories.mram", "memory@memories.mram"))]
    sram = compose([*no_schedule, "schedule=all_sram"])
    standard = compose([*no_schedule, "schedule=mram_then_sram", *STANDARD_MRAM])
    data = preflight(build_spec(base), None)

    sram_runs = seeded_runs(sram, seeds, data)
    standard_runs = seeded_runs(standard, seeds, data)
    result = SearchResult(_mean(sram_runs, lambda r: r.final_test_accuracy), _mean(sram_runs, lambda r: r.total_energy_j),
                          _mean(standard_runs, lambda r: r.total_energy_j))
    floor = result.baseline_accuracy - delta
    say(f"memtech search: {trials} trials of {seeds} seeds; feasible: none diverges and mean accuracy >= "
        f"{floor:.4f} (all-SRAM {result.baseline_accuracy:.4f} - {delta:g})")
    recorder = _Recorder(uri, experiment, overrides, trials, seeds, delta, knob, seed, result) if uri else None

    def objective(trial: Any) -> tuple[float, float]:
        params = {"schedule.first_fraction": trial.suggest_float("schedule.first_fraction", 0.05, 0.95),
                  key: trial.suggest_float(key, low, high, log=True),
                  "memories.mram.protection": trial.suggest_categorical("memories.mram.protection", PROTECTIONS)}
        config = copy.deepcopy(base)
        for name, value in params.items():
            set_key(config, name, value)
        runs = seeded_runs(config, seeds, data)
        diverged = sum(bool(r.diverged) for r in runs)
        accuracy, energy = _mean(runs, lambda r: r.final_test_accuracy), _mean(runs, lambda r: r.total_energy_j)
        done = Trial(trial.number, params, accuracy, energy, diverged, diverged == 0 and accuracy >= floor)
        result.trials.append(done)
        trial.set_constraint("accuracy_floor", floor - accuracy if diverged == 0 else 1.0)  # <= 0: feasible
        say(f"  trial {trial.number}: first_fraction {params['schedule.first_fraction']:.3f}  {key.rsplit('.', 1)[1]} "
            f"{params[key]:.4g}  {params['memories.mram.protection']:<6}  accuracy {accuracy:.4f}  energy {energy:.4g} J"
            f"  {diverged}/{seeds} diverged  {'feasible' if done.feasible else 'infeasible'}")
        if recorder:
            recorder.trial(done)
        return energy, accuracy

    sampler = optuna.samplers.TPESampler(seed=seed)  # the constraint each trial sets steers it
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the trials are reported above, one line each
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=sampler)
    try:
        study.optimize(objective, n_trials=trials)
    except BaseException as exc:
        if recorder:  # Ctrl-C or SIGTERM: KILLED, as memtech-run marks an interrupted run
            recorder.close("FAILED" if isinstance(exc, Exception) else "KILLED")
        raise
    if recorder:
        recorder.finish()
        result.parent_run_id = recorder.parent
    best = result.best
    if best is None:
        say("no feasible schedule: every trial diverged or lost more than delta (widen --delta or the space)")
    else:
        say(f"best schedule: {best.params} -> accuracy {best.accuracy:.4f}, energy {best.energy_j:.4g} J: "
            f"{result.saving(result.sram_energy_j):+.1%} against all-SRAM ({result.sram_energy_j:.4g} J), "
            f"{result.saving(result.standard_energy_j):+.1%} against standard MRAM at 20 ns "
            f"({result.standard_energy_j:.4g} J); Pareto front: {len(result.front)} schedule(s)")
    return result


class _Recorder:
    """The search in MLflow: a parent run, one child run per trial."""

    def __init__(self, uri: str, experiment: str, overrides: Sequence[str], trials: int, seeds: int, delta: float,
                 knob: str, seed: int, result: SearchResult):
        from mlflow.entities import Metric, Param

        from memtech import tracking

        self.client = tracking.client(uri)
        self.experiment_id = tracking.prepare_store(uri, experiment)
        self.result = result
        self.parent = tracking.start_parent_run(uri, experiment, "search", {
            "memtech.search.criterion": f"no seed diverges and mean accuracy >= all-SRAM {result.baseline_accuracy:.4f} - {delta:g}",
            "memtech.overrides": " ".join(overrides)})
        self.client.log_batch(self.parent, params=[Param(k, str(v)) for k, v in (
            ("trials", trials), ("seeds", seeds), ("delta", delta), ("knob", knob), ("sampler_seed", seed))],
            metrics=[Metric(k, v, 0, 0) for k, v in (("baseline_accuracy", result.baseline_accuracy),
                                                    ("sram_energy_j", result.sram_energy_j),
                                                    ("standard_mram_energy_j", result.standard_energy_j))])

    def trial(self, trial: Trial) -> None:
        from mlflow.entities import Metric, Param

        from memtech import tracking

        run = self.client.create_run(self.experiment_id, run_name=f"trial {trial.number}",
                                     tags={tracking.PARENT_ID_TAG: self.parent,
                                           "memtech.search.feasible": str(trial.feasible).lower()})
        trial.run_id = run.info.run_id
        self.client.log_batch(trial.run_id, params=[Param(k, f"{v:g}" if isinstance(v, float) else str(v))
                                                    for k, v in trial.params.items()],
                              metrics=[Metric(k, float(v), 0, 0) for k, v in (
                                  ("test_accuracy", trial.accuracy), ("energy_j", trial.energy_j),
                                  ("diverged_seeds", trial.diverged), ("feasible", trial.feasible)) if math.isfinite(v)])
        self.client.set_terminated(trial.run_id, "FINISHED")

    def finish(self) -> None:
        from mlflow.entities import Metric

        best = self.result.best
        if best is not None:
            self.client.log_batch(self.parent, metrics=[Metric(k, float(v), 0, 0) for k, v in (
                ("best_energy_j", best.energy_j), ("best_accuracy", best.accuracy),
                ("saved_vs_sram", self.result.saving(self.result.sram_energy_j)),
                ("saved_vs_standard_mram", self.result.saving(self.result.standard_energy_j)))])
            self.client.set_tag(self.parent, "memtech.search.best_run", best.run_id or "")
            for k, v in best.params.items():
                self.client.set_tag(self.parent, f"memtech.search.best.{k}", f"{v:g}" if isinstance(v, float) else str(v))
        self.client.log_dict(self.parent, {"front": [{"trial": t.number, "run_id": t.run_id, "params": t.params,
                                                      "accuracy": t.accuracy, "energy_j": t.energy_j}
                                                     for t in self.result.front]}, "search/front.json")
        self.close("FINISHED")

    def close(self, status: str) -> None:
        self.client.set_terminated(self.parent, status)

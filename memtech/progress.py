"""What ``memtech-run`` tells the person at the terminal: per-epoch progress and the closing summary.

Progress is shown only on an interactive terminal and never in sweep workers, so logs and sweeps stay
quiet; the summary is printed once per run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping, TextIO

from memtech.errors import ConfigError
from memtech.tables import grid

# The config sections tracking.baseline_key matches a baseline on: a baseline must train the same network
# on the same data for its energy and accuracy to compare.
BASELINE_SECTIONS = ("trainer", "dataset", "seed", "processor")

PROGRESS_SETTINGS = ("auto", True, False)
# set while a sweep shows its progress bar: its jobs leave their lines to the bar (hydra_main.say_job)
SWEEP_BAR_ENV = "MEMTECH_SWEEP_BAR"


def progress_enabled(setting: Any, multirun: bool, stream: TextIO | None = None) -> bool:
    """``progress: auto`` shows progress on an interactive terminal outside sweeps; ``true``/``false`` force it."""
    if setting not in PROGRESS_SETTINGS:
        raise ConfigError("progress", setting, "auto, true or false")
    if setting == "auto":
        stream = stream or sys.stderr
        return not multirun and bool(getattr(stream, "isatty", lambda: False)())
    return bool(setting)


# one format for both bars: "epoch 3/20 |####      | 00:01<00:04, phase mram  accuracy 0.9310 ..."
BAR_FORMAT = "{desc} {n_fmt}/{total_fmt} |{bar:24}| {elapsed}<{remaining}{postfix}"


class EpochProgress:
    """A progress bar of the run's epochs (tqdm: elapsed time and ETA), showing the phase, test accuracy, loss
    and energy so far."""

    def __init__(self, enabled: bool, stream: TextIO | None = None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self._bar: Any = None

    def __call__(self, record: Any, total_epochs: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total_epochs, desc="epoch", unit="epoch", file=self.stream, bar_format=BAR_FORMAT)
        self._bar.set_postfix_str(f"phase {record.phase}  accuracy {record.test_accuracy:.4f}  "
                                  f"loss {record.train_loss:.4f}  energy {record.energy_j:.4g} J", refresh=False)
        self._bar.update(record.epoch - self._bar.n)

    def close(self) -> None:
        """End the bar where the run ended (a run that diverged stops short of the last epoch)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def sweep_progress_enabled(setting: Any, stream: TextIO | None = None) -> bool:
    """``progress: auto`` shows a sweep's bar (jobs done of all) on an interactive terminal; ``true``/``false``
    force it. Its jobs never show their own epochs."""
    if setting not in PROGRESS_SETTINGS:
        raise ConfigError("progress", setting, "auto, true or false")
    if setting == "auto":
        stream = stream or sys.stderr
        return bool(getattr(stream, "isatty", lambda: False)())
    return bool(setting)


class SweepProgress:
    """A progress bar of a sweep's jobs: done of all, failures counted, ETA. It follows the records each job
    leaves in the sweep's state folder (whatever launcher, whichever process runs the job), and prints each
    job's line above the bar as the job's record arrives (jobs leave their line to it: ``SWEEP_BAR_ENV``)."""

    def __init__(self, total: int, state_dir: Path, stream: TextIO | None = None, interval_s: float = 0.25):
        import threading

        from tqdm import tqdm

        self.state_dir = state_dir
        self.stream = stream or sys.stderr
        self._bar = tqdm(total=total, desc="sweep", unit="job", file=self.stream, bar_format=BAR_FORMAT)
        self._seen: set[str] = set()
        self.failed = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._follow, args=(interval_s,), daemon=True)
        self._thread.start()

    def _follow(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.poll()

    def poll(self) -> None:
        """Count the job records that arrived since the last look, and print their lines."""
        import json

        with self._lock:
            if self._bar is None:
                return
            before = self._bar.n
            for path in sorted(self.state_dir.glob("job-*.json")) if self.state_dir.is_dir() else []:
                if path.name in self._seen:
                    continue
                try:
                    record = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue  # being replaced: read on the next look
                self._seen.add(path.name)
                failed = record.get("status") == "FAILED"
                self.failed += failed
                line = record.get("line") or (f"job {record.get('job')} FAILED: {record.get('error')}" if failed else None)
                if line:
                    self._bar.write(line, file=sys.stderr if failed else sys.stdout)
                if self.failed:
                    self._bar.set_postfix_str(f"{self.failed} failed", refresh=False)
                self._bar.update(1)
            if self._bar.n != before:
                self._bar.refresh()  # tqdm draws at most every 0.1 s by itself: the last job must show

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()  # the last records
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None


def command(name: str) -> str:
    """How the user can run memtech's command ``name`` from where they are: its bare name when the shell finds
    this install's script, else its path (``.venv/bin/memtech`` after ``make run``, whose environment is not
    on PATH), so that a printed hint works when pasted."""
    import os
    import shutil

    script = Path(sys.executable).parent / name
    found = shutil.which(name)
    if not script.exists() or (found is not None and Path(found).resolve() == script.resolve()):
        return name
    try:
        return os.path.relpath(script) if script.is_relative_to(Path.cwd()) else str(script)
    except ValueError:
        return str(script)


def stopped_note(result: Any) -> str | None:
    """How a run that diverged stopped ("stopped at iteration 14 of 860"), or None for a run that went on."""
    if not result.diverged:
        return None
    at, planned = result.diverged_at_iteration, getattr(result, "planned_iterations", None)
    if at is None:
        return "stopped early"
    return f"stopped at iteration {at} of {planned}" if planned else f"stopped at iteration {at}"


def _ratio(value: float, reference: float | None) -> str:
    if reference is None or reference == 0:
        return ""
    return f"  ({value / reference:.3f}x the all-SRAM baseline)"


def format_summary(
    result: Any,
    name: str,
    baseline: Mapping[str, float] | None = None,
    where: str | None = None,
    baseline_hint: str | None = None,
) -> str:
    """A short report: accuracy, energy per memory and phase, the all-SRAM comparison (or, without one,
    ``baseline_hint`` on how to record it) and where to look."""
    metrics = result.metrics()
    stopped = stopped_note(result)
    lines = [f"memtech run {name!r}: " + (f"DIVERGED, {stopped}" if stopped else f"{result.iterations} iterations")]
    base_acc = baseline.get("test_accuracy") if baseline else None
    acc_note = f"  (all-SRAM baseline {base_acc:.4f})" if base_acc is not None else ""
    lines.append(f"  test accuracy   {result.final_test_accuracy:.4f}{acc_note}")
    if stopped:  # less work than the baseline did: never a saving
        energy_note = f"  (of a run that {stopped}: not comparable with the all-SRAM baseline)"
    else:
        energy_note = _ratio(metrics["energy_j"], baseline.get("energy_j") if baseline else None)
    lines.append(f"  energy          {metrics['energy_j']:.4g} J{energy_note}")
    lines.append(
        f"  memory latency  {metrics['memory_latency_s']:.4g} s   simulated time {metrics['sim_time_s']:.4g} s"
    )
    lines.append(f"  bit flips       {int(metrics['flips'])}   detected errors {int(metrics['errors_detected'])}")
    lines.append("  energy by memory and phase" + (f" (up to iteration {result.diverged_at_iteration})" if stopped else "") + ":")
    rows = [[row.memory, row.phase, row.technology, f"{row.energy_j:.4g}", f"{row.dynamic_energy_j:.3g}",
             f"{row.static_energy_j:.3g}", str(row.total_flips)]
            for row in result.accounting if row.bits_read or row.bits_written or row.energy_j]
    lines.extend(grid(["memory", "phase", "technology", "energy_J", "dynamic_J", "static_J", "flips"], rows,
                      indent="    "))
    if baseline is None and baseline_hint:
        lines.append(f"  {baseline_hint}")
    if where:
        lines.append(where)
    return "\n".join(lines)


def _matching_overrides(config: Mapping[str, Any], overrides: list[str], other: Mapping[str, str] | None) -> list[str]:
    """The overrides an all-SRAM run needs to train what ``config`` trains: the job's own overrides of the
    baseline sections (group choices such as ``dataset=npz`` included), then every value that still differs
    from ``other`` (the params of a baseline recorded with other settings), e.g. set by an experiment preset."""
    from memtech import tracking

    def section(key: str) -> bool:
        return key.split(".", 1)[0].split("@", 1)[0] in BASELINE_SECTIONS or key == "plugins_dir"

    chosen = [o for o in overrides if "=" in o and section(o.split("=", 1)[0].lstrip("+~"))]
    covered = {o.split("=", 1)[0].lstrip("+~") for o in chosen}
    if other is not None:
        mine = {k: v for k, v in tracking.flatten(config).items() if section(k)}
        for key, value in sorted(mine.items()):
            if other.get(key) != value and key not in covered and key.split(".", 1)[0] not in covered:
                chosen.append(f"{key}={value}")
    return chosen


def baseline_hint(config: Mapping[str, Any], overrides: list[str], uri: str | None, experiment: str) -> str | None:
    """What to say when a run has no all-SRAM baseline to compare with: nothing for an all-SRAM run (it is
    one) or without a store; otherwise the command that records a matching baseline, noting when the store
    holds baselines of other trainer/dataset/seed settings."""
    from memtech import tracking

    if uri is None or tracking.is_all_sram(config):
        return None
    others = tracking.all_sram_runs(uri, tracking.experiment_ids(uri, experiment), max_results=1)
    other = dict(others[0].data.params) if others else None
    line = " ".join([command("memtech-run"), "experiment=sram_baseline", *_matching_overrides(config, overrides, other)])
    if other is None:
        return f"no all-SRAM baseline in the store yet: `{line}` records one"
    return (f"the store's all-SRAM baselines train other trainer/dataset/seed settings than this run: "
            f"`{line}` records a matching one")

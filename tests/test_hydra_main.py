"""The pieces around ``memtech-run``: progress, the summary, and the README's promises (its plugin example
loads from a folder and through an entry point, and runs)."""

from __future__ import annotations

import importlib.metadata
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from memtech import tracking
from memtech.experiment import run_experiment
from memtech.plugins import load_plugins
from memtech.progress import EpochProgress, baseline_hint, format_summary, progress_enabled
from memtech.results import EpochRecord

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal_and_never_in_sweeps():
    assert progress_enabled("auto", multirun=False, stream=Tty())
    assert not progress_enabled("auto", multirun=True, stream=Tty())
    assert not progress_enabled("auto", multirun=False, stream=io.StringIO())
    assert progress_enabled(True, multirun=True, stream=io.StringIO())
    assert not progress_enabled(False, multirun=False, stream=Tty())


def test_progress_bar_shows_epochs_eta_phase_accuracy_and_energy():
    out = Tty()
    progress = EpochProgress(True, out)
    progress(EpochRecord(1, 10, "mram", 1.5, 1.4, 0.5, 2e-6, 1e-4), 2)
    progress(EpochRecord(2, 20, "sram", 0.5, 0.4, 0.875, 3e-6, 2e-4), 2)
    progress.close()
    final = out.getvalue().rstrip("\n").rsplit("\r", 1)[-1]  # what the terminal shows at the end
    assert final.startswith("epoch 2/2 |") and "<00:00, phase sram  accuracy 0.8750  loss 0.5000" in final
    assert final.endswith("energy 3e-06 J")
    assert out.getvalue().endswith("\n") and not out.getvalue().endswith("\n\n")
    stopped = Tty()  # a run that diverged in epoch 1 of 5: the bar ends where it stopped
    progress = EpochProgress(True, stopped)
    progress(EpochRecord(1, 10, "mram", 1.5, 1.4, 0.5, 2e-6, 1e-4), 5)
    progress.close()
    assert stopped.getvalue().rstrip("\n").rsplit("\r", 1)[-1].startswith("epoch 1/5 |")
    silent = io.StringIO()
    EpochProgress(False, silent)(EpochRecord(1, 10, "mram", 1.5, 1.4, 0.5, 2e-6, 1e-4), 2)
    assert silent.getvalue() == ""


def test_sweep_bar_counts_the_job_records_and_prints_each_jobs_line_once(tmp_path, capsys):
    import json

    from memtech.progress import SweepProgress, sweep_progress_enabled

    assert sweep_progress_enabled("auto", Tty()) and not sweep_progress_enabled("auto", io.StringIO())
    assert sweep_progress_enabled(True, io.StringIO()) and not sweep_progress_enabled(False, Tty())
    bar_out = Tty()
    bar = SweepProgress(3, tmp_path / "state", stream=bar_out, interval_s=3600)  # polled by hand here
    bar.poll()  # no folder yet: nothing
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "job-0.json").write_text(json.dumps({"job": 0, "status": "FINISHED", "line": "job 0: fine"}))
    (tmp_path / "state" / "job-1.json").write_text(json.dumps({"job": 1, "status": "FAILED", "error": "ValueError: x"}))
    (tmp_path / "state" / "job-2.json.123.tmp").write_text("{half a rec")  # being written: not a record yet
    bar.poll()
    bar.poll()  # a record is counted once
    assert bar.failed == 1
    assert bar_out.getvalue().rsplit("\r", 1)[-1].startswith("sweep 2/3 |") and "1 failed" in bar_out.getvalue()
    (tmp_path / "state" / "job-2.json").write_text(json.dumps({"job": 2, "status": "SKIPPED", "line": "job 2: skipped"}))
    bar.close()
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["job 0: fine", "job 2: skipped"]
    assert captured.err.splitlines() == ["job 1 FAILED: ValueError: x"]
    assert bar_out.getvalue().rstrip("\n").rsplit("\r", 1)[-1].startswith("sweep 3/3 |")


def _config(schedule_memory: str) -> dict:
    placement = {"weights": schedule_memory, "biases": schedule_memory, "activations": "sram", "optimizer": "sram"}
    return {
        "memories": {"mram": {"technology": "stt_mram", "ber": 1e-3}, "sram": {"technology": "sram"}},
        "schedule": {"name": "one", "phases": [{"name": "only", "placement": placement}]},
        "trainer": {"name": "mlp", "hidden": [8], "epochs": 1},
        "dataset": {"name": "synthetic", "n_samples": 120, "n_features": 8, "n_classes": 3},
    }


def test_summary_reports_energy_per_memory_and_phase_against_the_baseline():
    result = run_experiment(_config("mram"))
    baseline = run_experiment(_config("sram")).metrics()
    text = format_summary(result, "demo", baseline, "look: memtech ui")
    ratio = result.total_energy_j / baseline["energy_j"]
    assert f"({ratio:.3f}x the all-SRAM baseline)" in text
    assert f"(all-SRAM baseline {baseline['test_accuracy']:.4f})" in text
    header = next(line for line in text.splitlines() if "energy_J" in line).split()
    assert header == ["memory", "phase", "technology", "energy_J", "dynamic_J", "static_J", "flips"]
    assert re.search(r"\n    mram\s+only\s+stt_mram\s+[0-9.e+-]+\s+[0-9.e+-]+\s+[0-9.e+-]+\s+\d+\n", text)
    assert text.endswith("look: memtech ui")
    assert "experiment=sram_baseline" not in format_summary(result, "demo", None)  # no hint: nothing to suggest
    assert "records one" in format_summary(result, "demo", None, None, "no all-SRAM baseline ...: records one")
    assert "records one" not in format_summary(result, "demo", baseline, None, "records one")


def test_a_diverged_run_says_where_it_stopped_and_never_shows_its_energy_as_a_saving():
    config = _config("mram")
    config["memories"]["mram"].update(ber=0.05, write_error_mode="any")  # every weight write breaks floats
    config["trainer"]["epochs"] = 20
    result = run_experiment(config)
    assert result.diverged and result.diverged_at_iteration < result.planned_iterations
    baseline = run_experiment(_config("sram")).metrics()
    text = format_summary(result, "demo", baseline)
    stopped = f"stopped at iteration {result.diverged_at_iteration} of {result.planned_iterations}"
    assert text.splitlines()[0] == f"memtech run 'demo': DIVERGED, {stopped}"
    assert f"(of a run that {stopped}: not comparable with the all-SRAM baseline)" in text
    assert "x the all-SRAM baseline" not in text
    assert f"energy by memory and phase (up to iteration {result.diverged_at_iteration}):" in text


def test_hints_name_the_command_as_the_shell_finds_it(tmp_path, monkeypatch):
    from memtech.progress import command

    bin_dir = Path(sys.executable).parent
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin:/bin")  # the environment activated
    assert command("memtech") == "memtech"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # right after `make run`: not on PATH
    monkeypatch.chdir(bin_dir.parent.parent)
    assert command("memtech") == os.path.relpath(bin_dir / "memtech")
    monkeypatch.chdir(tmp_path)  # elsewhere: the full path
    assert command("memtech") == str(bin_dir / "memtech")
    assert command("no-such-command") == "no-such-command"


def test_no_baseline_hint_without_a_store_or_on_an_all_sram_run(tmp_path):
    uri = tracking.resolve_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert baseline_hint(_config("mram"), [], None, "memtech") is None  # tracking=none: no store to record in
    assert baseline_hint(_config("sram"), [], uri, "memtech") is None  # it is the baseline
    hint = baseline_hint(_config("mram"), ["trainer.epochs=1", "memories.mram.ber=1e-3"], uri, "memtech")
    assert hint == "no all-SRAM baseline in the store yet: `memtech-run experiment=sram_baseline trainer.epochs=1` records one"


def test_baseline_hint_names_the_settings_a_stored_baseline_lacks(tmp_path):
    uri = tracking.resolve_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracking.prepare_store(uri, "memtech")
    other = _config("sram")
    other["trainer"] = dict(other["trainer"], epochs=3)
    run = tracking.MlflowRun(uri, "memtech", "base", tracking.run_tags(other))
    run.log_params(other)
    run.finish(run_experiment(other), None, log_model=False)
    mine = _config("mram")
    assert tracking.find_baseline(uri, "memtech", mine) is None
    hint = baseline_hint(mine, ["memories.mram.ber=1e-3", "seed=0"], uri, "memtech")
    assert "other trainer/dataset/seed settings" in hint
    # the user's own overrides first, then what differs from the stored baseline (here trainer.epochs)
    assert "`memtech-run experiment=sram_baseline seed=0 trainer.epochs=1` records a matching one" in hint


def test_a_diverging_run_is_recorded_without_floating_point_warnings(monkeypatch):
    import contextlib
    import warnings

    import numpy as np

    config = _config("mram")
    config["memories"]["mram"] = {"technology": "stt_mram", "ber": 1e-1, "write_error_mode": "any"}
    config["trainer"]["epochs"] = 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning fails the run
        result = run_experiment(config)
    assert result.diverged
    # the same run without the suppression does warn: the check above is not vacuous
    monkeypatch.setattr(np, "errstate", lambda **kw: contextlib.nullcontext())
    with pytest.warns(RuntimeWarning, match="overflow|invalid value"):
        assert run_experiment(config).diverged


# --- the README keeps its promises -------------------------------------------------------------------
def test_readme_starts_with_the_two_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).splitlines()
    assert [line.split("#")[0].strip() for line in first_block[:2]] == ["make run", "make test"]


def test_readme_presets_exist():
    for group in ("memory", "schedule", "trainer", "dataset", "tracking", "experiment"):
        row = re.search(rf"\| `{group}/`\s*\|([^|]*)\|", README).group(1)
        for name in re.findall(r"`([a-z0-9_]+)`", row):
            assert (ROOT / "conf" / group / f"{name}.yaml").is_file(), f"README names {group}/{name}"


@pytest.fixture()
def readme_plugin(tmp_path) -> Path:
    code = re.search(r"`myplugins/pcm\.py`:\n\n```python\n(.*?)```", README, re.S).group(1)
    folder = tmp_path / "myplugins"
    folder.mkdir()
    (folder / "pcm.py").write_text(code)
    return folder


def test_readme_plugin_loads_from_a_folder_and_through_an_entry_point(readme_plugin, monkeypatch):
    from_folder = load_plugins(entry_points=False, plugin_dirs=[readme_plugin], strict=True)
    info = from_folder.components["memory"]["pcm"]
    # no class `version`: the source's version shows (a folder: "local"; an entry point: its distribution's)
    assert info.source == f"dir:{readme_plugin}" and info.version == "local"

    monkeypatch.syspath_prepend(str(readme_plugin))
    entry = importlib.metadata.EntryPoint(name="pcm", value="pcm", group="memtech")
    from_entry_point = load_plugins(entry_points=[entry], strict=True)
    assert from_entry_point.memory("pcm").Params().write_energy_pj_per_bit == 20.0


@pytest.mark.slow
def test_readme_plugin_runs_by_name_with_no_yaml_and_does_not_diverge(readme_plugin, tmp_path):
    overrides = re.search(r"^memtech-run plugins_dir=\$PWD/myplugins (memory@.*)\n", README, re.M).group(1).split()
    env = dict(os.environ, **{tracking.RUNS_DIR_ENV: str(tmp_path / "runs")})
    done = subprocess.run(
        [str(Path(sys.executable).parent / "memtech-run"), f"plugins_dir={readme_plugin}", *overrides, "tracking=none"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"mram\s+mram\s+pcm\s+[0-9.e+-]+\s", done.stdout)
    assert "DIVERGED" not in done.stdout
    assert float(re.search(r"test accuracy\s+(\S+)", done.stdout).group(1)) > 0.9


@pytest.mark.slow
def test_readme_reram_example_does_not_diverge(tmp_path):
    line = re.search(r"^memtech-run (memory@memories.mram=reram .*?)\s+#", README, re.M).group(1)
    env = dict(os.environ, **{tracking.RUNS_DIR_ENV: str(tmp_path / "runs")})
    done = subprocess.run([str(Path(sys.executable).parent / "memtech-run"), *line.split(), "tracking=none"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "DIVERGED" not in done.stdout
    assert float(re.search(r"test accuracy\s+(\S+)", done.stdout).group(1)) > 0.9

"""``memtech-run`` end to end, in subprocesses, on temporary stores: single runs and multirun sweeps with the batched
(default) and joblib launchers (parallel), basic (sequential) and submitit (local executor) launchers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from memtech import cli, tracking

MEMTECH_RUN = str(Path(sys.executable).parent / "memtech-run")
SMALL_DATA = ("dataset=synthetic", "dataset.n_samples=300", "dataset.n_features=16")  # sweeps test plumbing, not learning


def memtech_run(runs: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, **{tracking.RUNS_DIR_ENV: str(runs)})
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop(tracking.PARENT_RUN_ENV, None)
    return subprocess.run([MEMTECH_RUN, *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=runs.parent)


@pytest.fixture(scope="module")
def migrated_store(tmp_path_factory) -> Path:
    """An empty store with its schema made once: creating the schema costs seconds per fresh store."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    tracking.prepare_store(f"sqlite:///{path}", "memtech")
    return path


def runs_with_store(tmp_path: Path, template: Path) -> Path:
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copy(template, runs / "mlflow.db")
    return runs


def record_sram_baseline(uri: str, overrides: list[str]) -> None:
    """What `memtech-run experiment=sram_baseline` records, made in this process to spare a subprocess."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    import memtech.hydra_main  # noqa: F401 - registers the resolvers
    from memtech.experiment import run_experiment

    with initialize_config_module("memtech_conf", version_base="1.3"):
        config = OmegaConf.to_container(compose("config", overrides=["experiment=sram_baseline", *overrides]), resolve=True)
    run = tracking.MlflowRun(uri, "memtech", str(config["name"]), tracking.run_tags(config))
    run.finish(run_experiment(config), None, log_model=False)


def store_runs(runs: Path) -> list:
    uri = f"sqlite:///{runs}/mlflow.db"
    client = tracking.client(uri)
    experiment = client.get_experiment_by_name("memtech")
    return client.search_runs([experiment.experiment_id], max_results=1000)


def test_single_run_records_params_metrics_and_artifacts_and_compares_to_a_baseline(tmp_path, monkeypatch, capsys, migrated_store):
    runs = runs_with_store(tmp_path, migrated_store)
    record_sram_baseline(f"sqlite:///{runs}/mlflow.db", ["trainer.epochs=2"])
    done = memtech_run(runs, "trainer.epochs=2", "memories.mram.ber=1e-3", "progress=true")
    assert done.returncode == 0, done.stderr
    assert "epoch 2/2 |" in done.stderr and "phase sram  accuracy" in done.stderr
    assert "test accuracy" in done.stdout and "memtech ui" in done.stdout
    assert "x the all-SRAM baseline" in done.stdout and re.search(r"\n    mram +mram +stt_mram +[0-9]", done.stdout)

    recorded = {r.info.run_name: r for r in store_runs(runs)}
    assert set(recorded) == {"sram_baseline", "mram_then_sram"}
    assert recorded["sram_baseline"].data.tags["memtech.all_sram"] == "true"
    run = recorded["mram_then_sram"]
    assert run.info.status == "FINISHED"
    assert run.data.params["memories.mram.ber"] == "0.001"
    assert run.data.params["memories.mram.technology"] == "stt_mram"
    assert run.data.params["schedule.first_fraction"] == "0.8"
    assert run.data.params["trainer.epochs"] == "2"
    metrics = run.data.metrics
    for key in ("test_accuracy", "energy_j", "memory_latency_s", "flips", "errors_detected", "diverged",
                "mram.mram.energy_j", "sram.sram.energy_j", "phase.mram.energy_j", "mram.mram.latency_s"):
        assert key in metrics, key
    assert metrics["flips"] > 0, "BER 1e-3 flips bits"
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert run.data.tags["memtech.overrides"] == "trainer.epochs=2 memories.mram.ber=1e-3 progress=true"

    client = tracking.client(f"sqlite:///{runs}/mlflow.db")
    assert len(client.get_metric_history(run.info.run_id, "epoch.test_accuracy")) == 2
    config_text = Path(client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path))).read_text()
    assert "technology: stt_mram" in config_text and "ber: 0.001" in config_text
    assert "result.json" in {a.path for a in client.list_artifacts(run.info.run_id)}
    (output,) = client.get_run(run.info.run_id).outputs.model_outputs  # the run's logged model: MLflow's Models column
    logged = client.get_logged_model(output.model_id)
    assert logged.name == "model" and logged.source_run_id == run.info.run_id and str(logged.status) == "READY"
    hydra_dirs = list((runs / "hydra").glob("*/*_mram_then_sram"))
    assert len(hydra_dirs) == 1 and (hydra_dirs[0] / "model.npz").is_file()

    # The stored weights score new data, found by run id.
    from sklearn.datasets import load_digits

    digits = load_digits()
    np.savez(tmp_path / "new.npz", x=digits.data[:300] / 16.0, y=digits.target[:300])
    monkeypatch.setenv(tracking.RUNS_DIR_ENV, str(runs))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    capsys.readouterr()
    assert cli.main(["predict", run.info.run_id, str(tmp_path / "new.npz")]) == 0
    out = capsys.readouterr().out
    assert "on 300 samples" in out
    # MLflow's own loader scores the same data the same way
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{runs}/mlflow.db")
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    predicted = model.predict(np.asarray(digits.data[:300] / 16.0, dtype=np.float32))
    assert predicted.dtype == np.int64 and predicted.shape == (300,)
    assert f"accuracy {(predicted == digits.target[:300]).mean():.4f} on 300 samples" in out
    assert tuple(model.metadata.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == (-1, 64)
    # the data set as MLflow inputs, and MLflow's standard tags
    inputs = {d.tags[0].value: d.dataset for d in client.get_run(run.info.run_id).inputs.dataset_inputs}
    assert set(inputs) == {"training", "evaluation"} and inputs["training"].name == "digits"
    assert json.loads(inputs["evaluation"].profile)["features_shape"] == [449, 64]
    assert run.data.tags["mlflow.user"] and run.data.tags["mlflow.source.name"].endswith("memtech-run")


def test_a_sweep_shows_jobs_done_of_all_and_each_jobs_line_once(tmp_path):
    forced = memtech_run(tmp_path / "runs", "-m", "seed=0,1", "trainer.epochs=1", *SMALL_DATA, "tracking=none",
                         "progress=true")
    assert forced.returncode == 0, forced.stderr
    shown = [line for line in re.split(r"[\r\n]", forced.stderr) if line.strip()]  # text mode turns \r into \n
    assert shown[-1].startswith("sweep 2/2 |"), forced.stderr[-500:]
    for job in (0, 1):
        assert sum(line.startswith(f"job {job}: accuracy") for line in forced.stdout.splitlines()) == 1, forced.stdout
    piped = memtech_run(tmp_path / "runs", "-m", "seed=0,1", "trainer.epochs=1", *SMALL_DATA, "tracking=none")
    assert "sweep 0/2" not in piped.stderr and "job 1: accuracy" in piped.stdout  # not a terminal: lines only


def test_progress_stays_quiet_when_stderr_is_not_a_terminal(tmp_path):
    done = memtech_run(tmp_path / "runs", "trainer.epochs=2", "tracking=none")
    assert done.returncode == 0, done.stderr
    assert "epoch" not in done.stderr
    assert "test accuracy" in done.stdout
    assert not (tmp_path / "runs" / "mlflow.db").exists(), "tracking=none records nothing"


def test_a_bad_config_stops_before_any_work_with_a_clear_message(tmp_path):
    done = memtech_run(tmp_path / "runs", "memories.mram.ber=1.5")
    assert done.returncode == 2
    assert "memtech-run: error: memories.mram.ber must be a number in [0, 1], got 1.5" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs" / "mlflow.db").exists(), "nothing is recorded for a config that never ran"

    sweep = memtech_run(tmp_path / "runs", "-m", "tracking.backend=wandb", "schedule.first_fraction=0.2,0.8")
    assert sweep.returncode == 2
    assert "tracking.backend must be one of 'mlflow', 'none', got 'wandb'" in sweep.stderr
    assert not (tmp_path / "runs" / "multirun").exists(), "no job starts when the sweep's tracking is not ready"


def test_a_sweep_with_a_bad_job_starts_no_job_and_names_every_bad_one(tmp_path):
    runs = tmp_path / "runs"
    done = memtech_run(runs, "-m", "trainer.epochs=1", *SMALL_DATA, "memories.mram.ber=1e-4,2.0",
                       "memories.mram.capacity_mb=0.0001,64")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "3 of 4 sweep jobs have an invalid config; no job was started" in done.stderr
    lines = {line.split(" (")[0].strip(): line for line in done.stderr.splitlines() if line.startswith("  job ")}
    assert sorted(lines) == ["job 0", "job 2", "job 3"]  # job 1 (ber 1e-4, 64 MB) is fine
    assert lines["job 2"].endswith("memories.mram.ber=2.0 memories.mram.capacity_mb=0.0001): "
                                   "memories.mram.ber must be a number in [0, 1], got 2.0")
    # a capacity needs the data's size: checked too, before any job
    assert "memories.mram.capacity_mb=0.0001): memories.mram.capacity_mb must hold the tensors" in lines["job 0"]
    assert "Traceback" not in done.stderr
    assert not (runs / "mlflow.db").exists() and not (runs / "multirun").exists(), "nothing recorded, nothing run"


# A trainer that breaks while training (valid config, so the sweep's checks let it start) at one learning rate
FLAKY_TRAINER = """
import memtech
from memtech_plugins.mlp import Mlp


class Flaky(Mlp):
    name = "flaky"

    def train_step(self, store, x, y):
        if self.params.learning_rate == 0.05:
            raise RuntimeError("the trainer broke")
        return super().train_step(store, x, y)


@memtech.hookimpl
def memtech_register_trainers(register):
    register(Flaky)
"""


@pytest.mark.slow
@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib_all_cores"]], ids=["batched (default)", "joblib"])
def test_parallel_sweep_on_a_fresh_store_records_every_job_under_one_parent(tmp_path, launcher):
    runs = tmp_path / "runs"
    assert not runs.exists()
    (tmp_path / "myplugins").mkdir()
    (tmp_path / "myplugins" / "flaky.py").write_text(FLAKY_TRAINER)
    # Four jobs in four workers, one of which breaks while training: it is recorded FAILED, the others go on.
    done = memtech_run(runs, "-m", *launcher, "hydra.launcher.n_jobs=4", "trainer.epochs=1", *SMALL_DATA, "trainer.name=flaky",
                       f"plugins_dir={tmp_path / 'myplugins'}", "trainer.learning_rate=0.1,0.2,0.3,0.05")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 of 4 sweep jobs failed" in done.stderr
    recorded = store_runs(runs)
    parents = [r for r in recorded if r.data.tags.get(tracking.PARENT_TAG) == "parent"]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in recorded if r.data.tags.get(tracking.PARENT_ID_TAG) == parent.info.run_id]
    assert len(children) == 4 and len(recorded) == 5, "no run lost, none outside the parent"
    by_rate = {r.data.params.get("trainer.learning_rate"): r for r in children}
    assert {b for b, r in by_rate.items() if r.info.status == "FINISHED"} == {"0.1", "0.2", "0.3"}
    failed = by_rate["0.05"]
    assert failed.info.status == "FAILED"
    assert "RuntimeError: the trainer broke" in failed.data.tags["memtech.error"]
    for run in children:
        if run.info.status == "FINISHED":
            assert "test_accuracy" in run.data.metrics and "energy_j" in run.data.metrics
    client = tracking.client(f"sqlite:///{runs}/mlflow.db")
    parent = client.get_run(parent.info.run_id)
    assert parent.info.status == "FAILED" and parent.data.tags["memtech.failed_jobs"] == "1"
    assert parent.data.tags["memtech.swept"] == "trainer.learning_rate"
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "compare")} == {
        f"compare/{parent.info.run_id}.png", "compare/points.json", "compare/table.txt"}


@pytest.mark.slow
def test_submitit_local_executor_records_its_jobs_under_the_parent(tmp_path, migrated_store):
    runs = runs_with_store(tmp_path, migrated_store)
    done = memtech_run(runs, "-m", "hydra/launcher=submitit_local", "trainer.epochs=1", *SMALL_DATA, "schedule.first_fraction=0.2")
    assert done.returncode == 0, done.stdout + done.stderr
    recorded = store_runs(runs)
    parent = [r for r in recorded if r.data.tags.get(tracking.PARENT_TAG) == "parent"]
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    children = [r for r in recorded if r.data.tags.get(tracking.PARENT_ID_TAG) == parent[0].info.run_id]
    assert [r.data.params["schedule.first_fraction"] for r in children] == ["0.2"]
    assert children[0].info.status == "FINISHED" and "test_accuracy" in children[0].data.metrics


def test_basic_launcher_runs_a_sweep_one_job_after_another(tmp_path):
    runs = tmp_path / "runs"
    done = memtech_run(runs, "-m", "hydra/launcher=basic", "tracking=none", "trainer.epochs=1", *SMALL_DATA,
                       "schedule.first_fraction=0.2,0.8")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.index("job 0: accuracy") < done.stdout.index("job 1: accuracy")
    outputs = sorted((runs / "multirun").glob("*/*/*/model.npz"))
    assert [p.parent.name for p in outputs] == ["0", "1"]
    assert not (runs / "mlflow.db").exists()


def test_run_name_and_folder_follow_the_schedule_and_no_store_means_no_baseline_hint(tmp_path):
    runs = tmp_path / "runs"
    done = memtech_run(runs, "schedule=all_sram", "tracking=none", "trainer.epochs=1", *SMALL_DATA)
    assert done.returncode == 0, done.stderr
    assert "memtech run 'all_sram'" in done.stdout
    assert "sram_baseline" not in done.stdout  # nothing to record a baseline in, and this run is all-SRAM anyway
    folders = list((runs / "hydra").glob("*/*"))
    assert len(folders) == 1 and folders[0].name.endswith("_all_sram")


def test_a_sweep_without_a_store_names_each_jobs_overrides_and_folder(tmp_path):
    runs = tmp_path / "runs"
    done = memtech_run(runs, "-m", "hydra/launcher=basic", "tracking=none", "trainer.epochs=1", *SMALL_DATA,
                       "memories.mram.ber=1e-8,1e-6")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("job ")]
    assert len(lines) == 2
    for num, ber in enumerate(("1e-08", "1e-06")):  # as Hydra writes the swept values
        assert lines[num].startswith(f"job {num}: accuracy ")
        assert f"memories.mram.ber={ber}" in lines[num]
        folder = Path(lines[num].rsplit("-> ", 1)[1])
        assert folder.name == str(num) and folder.parent.name.endswith("_mram_then_sram") and folder.is_dir()


def test_a_sweep_with_values_only_its_jobs_can_resolve_still_runs(tmp_path):
    """An environment value holding a comma is one value (Hydra reads the overrides unresolved), and
    ${hydra:job.num} resolves per job: the up-front check must not refuse either."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    np.savez(tmp_path / "d,1.npz", x=digits.data[:300] / 16.0, y=digits.target[:300])
    runs = tmp_path / "runs"
    env = dict(os.environ, **{tracking.RUNS_DIR_ENV: str(runs), "DATA": str(tmp_path / "d,1.npz")})
    done = subprocess.run([MEMTECH_RUN, "-m", "tracking=none", "trainer.epochs=1", "dataset=npz",
                           "dataset.path=${oc.env:DATA}", "seed=${hydra:job.num}", "memories.mram.ber=1e-6,1e-5"],
                          capture_output=True, text=True, env=env, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "job 0: accuracy" in done.stdout and "job 1: accuracy" in done.stdout
    assert "job 2" not in done.stdout

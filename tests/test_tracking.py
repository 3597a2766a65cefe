"""MLflow tracking: where the store is, what a run records, how failures and baselines are recorded."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from memtech import tracking
from memtech.experiment import run_experiment

TINY = {
    "seed": 3,
    "memories": {"mram": {"technology": "stt_mram", "ber": 1e-3}, "sram": {"technology": "sram"}},
    "schedule": {
        "name": "mram_then_sram",
        "first_fraction": 0.5,
        "phases": [
            {"name": "mram", "placement": {"weights": "mram", "biases": "mram", "activations": "sram", "optimizer": "sram"}},
            {"name": "sram", "placement": {"weights": "sram", "biases": "sram", "activations": "sram", "optimizer": "sram"}},
        ],
    },
    "trainer": {"name": "mlp", "hidden": [8], "epochs": 3, "batch_size": 32, "learning_rate": 0.1},
    "dataset": {"name": "synthetic", "n_samples": 200, "n_features": 8, "n_classes": 3},
    "tracking": {"backend": "mlflow", "uri": None, "experiment": "memtech", "log_model": True},
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    uri = "sqlite:///" + str(tmp_path_factory.mktemp("store") / "mlflow.db")
    tracking.prepare_store(uri, "memtech")
    return uri


def test_store_location_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(tracking.RUNS_DIR_ENV, str(tmp_path))
    assert tracking.resolve_uri() == f"sqlite:///{tmp_path}/mlflow.db"
    assert tracking.resolve_uri().startswith("sqlite:////"), "an absolute path: four slashes"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking.resolve_uri() == "http://127.0.0.1:5999"
    assert tracking.resolve_uri("sqlite:////elsewhere/m.db") == "sqlite:////elsewhere/m.db"
    assert tracking.artifact_location(f"sqlite:///{tmp_path}/mlflow.db", "memtech") == (tmp_path / "artifacts" / "memtech").as_uri()
    assert tracking.artifact_location("http://127.0.0.1:5999", "memtech") is None


def test_runs_dir_is_the_checkout_runs_folder_by_default(monkeypatch):
    monkeypatch.delenv(tracking.RUNS_DIR_ENV, raising=False)
    root = tracking.project_root()
    assert root is not None and (root / "pyproject.toml").is_file()
    assert tracking.runs_dir() == root / "runs"


def test_flatten_keeps_scalar_lists_whole_and_numbers_lists_of_mappings():
    flat = tracking.flatten(TINY)
    assert flat["memories.mram.ber"] == "0.001"
    assert flat["trainer.hidden"] == "[8]"
    assert flat["schedule.phases.0.placement.weights"] == "mram"
    assert flat["tracking.uri"] == "null"


def test_a_run_records_params_epochs_results_tags_and_artifacts(store, tmp_path):
    run = tracking.MlflowRun(store, "memtech", "tiny", tracking.run_tags(TINY, overrides=["seed=3"]))
    run.log_params(TINY)
    result = run_experiment(TINY, on_epoch=lambda record, total: run.log_epoch(record))
    result.save(tmp_path)
    run.finish(result, tmp_path)

    client = tracking.client(store)
    recorded = client.get_run(run.run_id)
    assert recorded.info.status == "FINISHED"
    assert recorded.data.params["memories.mram.ber"] == "0.001"
    assert recorded.data.params["trainer.epochs"] == "3"
    metrics = recorded.data.metrics
    assert metrics["test_accuracy"] == pytest.approx(result.final_test_accuracy)
    assert metrics["energy_j"] == pytest.approx(result.total_energy_j)
    for key, value in result.metrics().items():  # per memory and phase, flips, detected errors, divergence
        assert metrics[key] == pytest.approx(value), key
    assert metrics["mram.mram.energy_j"] > 0 and metrics["diverged"] == 0.0
    history = client.get_metric_history(run.run_id, "epoch.test_accuracy")
    assert [m.step for m in history] == [1, 2, 3]
    tags = recorded.data.tags
    assert tags["memtech.version"]
    assert tags["memtech.plugin.memory.stt_mram"].startswith("built-in")
    assert tags["memtech.overrides"] == "seed=3"
    assert tags.get("mlflow.source.git.commit"), "a checkout records its git commit"
    artifacts = {a.path for a in client.list_artifacts(run.run_id)}
    assert {"memory_cards.json", "accounting.json", "result.json"} <= artifacts
    assert len(client.get_run(run.run_id).outputs.model_outputs) == 1  # the trained network, as a logged model
    cards = json.loads(Path(client.download_artifacts(run.run_id, "memory_cards.json", str(tmp_path / "dl"))).read_text())
    assert cards["mram"]["technology"] == "stt_mram"


def test_a_failed_run_is_marked_failed_with_its_error(store):
    run = tracking.MlflowRun(store, "memtech", "broken", {})
    try:
        raise RuntimeError("out of simulated memory")
    except RuntimeError as exc:
        run.fail(exc)
    recorded = tracking.client(store).get_run(run.run_id)
    assert recorded.info.status == "FAILED"
    assert recorded.data.tags["memtech.error"] == "RuntimeError: out of simulated memory"
    text = Path(tracking.client(store).download_artifacts(run.run_id, "error.txt")).read_text()
    assert "out of simulated memory" in text and "Traceback" in text


def test_children_are_grouped_under_their_parent(store):
    parent = tracking.start_parent_run(store, "memtech", "sweep", {"memtech.swept": "seed"})
    ids = {tracking.MlflowRun(store, "memtech", f"job{i}", {}, parent_run_id=parent).run_id for i in range(3)}
    assert {r.info.run_id for r in tracking.child_runs(store, parent)} == ids


def test_baseline_is_the_latest_all_sram_run_of_the_same_network(store, tmp_path):
    sram_only = dict(TINY, schedule={"name": "all_sram", "phases": [
        {"name": "sram", "placement": {"weights": "sram", "biases": "sram", "activations": "sram", "optimizer": "sram"}}]})
    assert tracking.is_all_sram(sram_only) and not tracking.is_all_sram(TINY)
    other_network = dict(sram_only, trainer=dict(TINY["trainer"], hidden=[16]))
    for config in (sram_only, other_network):
        run = tracking.MlflowRun(store, "memtech", "baseline", tracking.run_tags(config))
        run.finish(run_experiment(config), None, log_model=False)
        if config is sram_only:
            expected = run.run_id
    found = tracking.find_baseline(store, "memtech", TINY)
    assert found is not None and found["run_id"] == expected
    assert tracking.find_baseline(store, "memtech", dict(TINY, seed=4)) is None


def test_a_diverged_run_is_a_finished_result_with_its_flag(store):
    config = dict(TINY, trainer=dict(TINY["trainer"], learning_rate=1e6, init_scale=100.0, epochs=2))
    result = run_experiment(config)
    assert result.diverged
    run = tracking.MlflowRun(store, "memtech", "diverged", tracking.run_tags(config))
    run.log_params(config)
    for record in result.epochs:
        run.log_epoch(record)
    run.finish(result, None, log_model=False)
    recorded = tracking.client(store).get_run(run.run_id)
    assert recorded.info.status == "FINISHED"
    assert recorded.data.metrics["diverged"] == 1.0 and recorded.data.tags["memtech.diverged"] == "true"
    losses = tracking.client(store).get_metric_history(run.run_id, "epoch.train_loss")
    assert losses and not math.isfinite(losses[-1].value), "the non-finite loss is recorded as it was"

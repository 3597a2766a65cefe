"""Run results: metrics, JSON, and saved weights that load without pickle."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from conftest import digits_config

from memtech import RunResult, StoredModel, run_experiment
from memtech.results import load_model_file


@pytest.fixture(scope="module")
def hybrid_run(registry):
    return run_experiment(digits_config("mram_then_sram", mram={"ber": 1e-3}, epochs=4), registry=registry)


def test_result_holds_metrics_accounting_and_values(hybrid_run):
    result = hybrid_run
    assert [r.epoch for r in result.epochs] == [1, 2, 3, 4]
    assert [r.phase for r in result.epochs] == ["mram", "mram", "mram", "sram"]
    assert all(np.isfinite(r.test_loss) and 0 <= r.test_accuracy <= 1 for r in result.epochs)
    energies = [r.energy_j for r in result.epochs]
    assert energies == sorted(energies) and energies[-1] == pytest.approx(result.total_energy_j)
    times = [r.sim_time_s for r in result.epochs]
    assert times == sorted(times) and times[-1] == result.sim_time_s
    assert {(r.memory, r.phase) for r in result.accounting} == {("mram", "mram"), ("sram", "mram"), ("mram", "sram"), ("sram", "sram")}
    metrics = result.metrics()
    for key in ("test_accuracy", "energy_j", "mram.mram.energy_j", "sram.sram.bits_written", "phase.mram.energy_j",
                "mram.energy_j", "flips", "values_zeroed", "diverged"):
        assert key in metrics
    assert metrics["flips"] == metrics["mram.mram.flips"] > 0  # only the MRAM phase injects faults
    assert metrics["energy_j"] == pytest.approx(metrics["dynamic_energy_j"] + metrics["static_energy_j"])
    assert result.values["weights"].dtype == np.float32 and result.values["weights"].shape == (64 * 64 + 64 * 10,)
    assert result.plugins["memory.stt_mram"].startswith("built-in")


def test_save_writes_json_and_an_npz_without_pickle(hybrid_run, tmp_path):
    out = hybrid_run.save(tmp_path / "run")
    data = json.loads((out / "result.json").read_text())
    assert data["final_test_accuracy"] == hybrid_run.final_test_accuracy
    assert data["metrics"]["energy_j"] == pytest.approx(hybrid_run.total_energy_j)
    assert "values" not in data
    with zipfile.ZipFile(out / "model.npz") as archive:
        for name in archive.namelist():
            with archive.open(name) as member:
                header = member.read(256)
            assert b"'descr': '|O'" not in header  # no object arrays, i.e. nothing pickled
    values, model = load_model_file(out / "model.npz")  # loads with allow_pickle=False
    np.testing.assert_array_equal(values["weights"], hybrid_run.values["weights"])
    assert model == {"trainer": "mlp", "n_features": 64, "n_classes": 10, "input_shape": [1, 8, 8],
                     "input_normalization": None, "trainer_params": {
        "hidden": [64], "epochs": 4, "batch_size": 32, "learning_rate": 0.1, "optimizer": "sgd", "momentum": 0.0,
        "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8, "init_scale": 1.0}}


def test_stored_model_reproduces_the_runs_test_accuracy(hybrid_run, tmp_path, registry):
    out = hybrid_run.save(tmp_path / "run")
    data = registry.dataset("digits").from_config({}, "dataset").load()
    model = StoredModel.load(out, registry=registry)
    assert model.accuracy(data.x_test, data.y_test) == hybrid_run.final_test_accuracy
    also = StoredModel.load(out / "model.npz", registry=registry)
    np.testing.assert_array_equal(also.predict(data.x_test[:5].reshape(5, 8, 8)), model.predict(data.x_test[:5]))


def test_diverged_run_is_a_result(registry, quiet_overflow):
    result = run_experiment(digits_config("all_mram", mram={"ber": 1e-4, "write_error_mode": "any"}, epochs=3),
                            registry=registry)
    assert isinstance(result, RunResult)
    assert result.diverged and result.metrics()["diverged"] == 1.0
    assert result.diverged_at_iteration == result.iterations
    json.dumps(result.to_json(), default=float)  # NaN losses still serialise

"""Scoring new data with stored weights: the API and ``memtech predict``."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import digits_config

from memtech import ConfigError, StoredModel, cli, run_experiment


@pytest.fixture(scope="module")
def saved_run(registry, tmp_path_factory):
    result = run_experiment(digits_config("all_sram", epochs=5), registry=registry)
    out = result.save(tmp_path_factory.mktemp("run"))
    data = registry.dataset("digits").from_config({}, "dataset").load()
    return result, out, data


def test_cli_predict_reports_the_runs_accuracy(saved_run, tmp_path, capsys):
    result, out, data = saved_run
    np.savez(tmp_path / "test.npz", x=data.x_test, y=data.y_test)
    assert cli.main(["predict", str(out), str(tmp_path / "test.npz")]) == 0
    assert capsys.readouterr().out.strip() == f"accuracy {result.final_test_accuracy:.4f} on {len(data.y_test)} samples"


def test_cli_predict_writes_classes(saved_run, tmp_path, capsys):
    _, out, data = saved_run
    np.savez(tmp_path / "new.npz", x=data.x_test[:7])
    assert cli.main(["predict", str(out / "model.npz"), str(tmp_path / "new.npz"), "--output", str(tmp_path / "p.npy")]) == 0
    predicted = np.load(tmp_path / "p.npy")
    np.testing.assert_array_equal(predicted, StoredModel.load(out).predict(data.x_test[:7]))
    assert predicted.shape == (7,) and set(predicted) <= set(range(10))
    assert cli.main(["predict", str(out), str(tmp_path / "new.npz")]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split() == [str(int(p)) for p in predicted]


def test_predict_errors_name_what_is_wrong(saved_run, tmp_path, capsys):
    _, out, _ = saved_run
    with pytest.raises(ConfigError, match="model must be a model.npz file or a folder holding one"):
        StoredModel.load(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"x must be rows of 64 features, got 'shape \(3, 5\)'"):
        StoredModel.load(out).predict(np.zeros((3, 5)))
    np.savez(tmp_path / "bad.npz", features=np.zeros((2, 64)))
    assert cli.main(["predict", str(out), str(tmp_path / "bad.npz")]) == 2
    assert "data must hold an array 'x'" in capsys.readouterr().err

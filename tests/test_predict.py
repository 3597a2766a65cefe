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
    with pytest.raises(ConfigError, match="model must be a model.npz file, a folder holding one, or the id .* of a run"):
        StoredModel.load(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"^x must be rows of 64 features, got shape \(3, 5\)$"):
        StoredModel.load(out).predict(np.zeros((3, 5)))
    np.savez(tmp_path / "bad.npz", features=np.zeros((2, 64)))
    assert cli.main(["predict", str(out), str(tmp_path / "bad.npz")]) == 2
    assert "data must be an existing .npz file with an array 'x'" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["missing", "npy", "not_npz", "npy_named_npz"])
def test_cli_predict_bad_data_is_a_clean_error(saved_run, tmp_path, capsys, kind):
    _, out, data = saved_run
    path = tmp_path / {"missing": "nope.npz", "npy": "x.npy", "not_npz": "x.npz", "npy_named_npz": "y.npz"}[kind]
    if kind == "npy":
        np.save(path, data.x_test[:3])
    elif kind == "not_npz":
        path.write_text("label,value\n1,2\n")
    elif kind == "npy_named_npz":
        with open(path, "wb") as f:
            np.save(f, data.x_test[:3])
    assert cli.main(["predict", str(out), str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("memtech: error: data must be an existing .npz file with an array 'x'"), err
    assert err.rstrip().endswith(f"got {str(path)!r}") and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert {"missing": "no such file", "npy": "single array of shape (3, 64)", "not_npz": "not a zip archive",
            "npy_named_npz": "single array of shape (3, 64)"}[kind] in err


def test_cli_predict_shape_error_reads_as_a_shape(saved_run, tmp_path, capsys):
    _, out, _ = saved_run
    np.savez(tmp_path / "wide.npz", x=np.zeros((5, 10)))
    assert cli.main(["predict", str(out), str(tmp_path / "wide.npz")]) == 2
    assert capsys.readouterr().err.strip() == "memtech: error: x must be rows of 64 features, got shape (5, 10)"

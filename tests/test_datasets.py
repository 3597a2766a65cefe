"""Dataset plugins: digits with a fixed split, synthetic data of any size, and .npz files."""

from __future__ import annotations

import numpy as np
import pytest

from memtech import ConfigError


def load(registry, name, **config):
    return registry.dataset(name).from_config(config, "dataset").load()


def test_digits_split_is_fixed_and_independent_of_the_run(registry):
    a, b = load(registry, "digits"), load(registry, "digits")
    assert (a.x_train.shape, a.x_test.shape) == ((1348, 64), (449, 64))
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert a.x_train.dtype == np.float32 and a.y_train.dtype == np.int64
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    assert a.n_classes == 10 and a.n_features == 64 and set(np.unique(a.y_test)) == set(range(10))
    other = load(registry, "digits", split_seed=1)
    assert not np.array_equal(other.y_test, a.y_test)
    # train and test are disjoint: no test image also appears in training
    train_rows = {row.tobytes() for row in a.x_train}
    assert sum(row.tobytes() in train_rows for row in a.x_test) < 5  # the UCI set holds a few duplicate images


@pytest.mark.parametrize("n_samples, n_features, n_classes", [(10, 1, 2), (1000, 784, 10), (4096, 32, 3)])
def test_synthetic_has_the_requested_size(registry, n_samples, n_features, n_classes):
    data = load(registry, "synthetic", n_samples=n_samples, n_features=n_features, n_classes=n_classes)
    assert len(data.x_train) + len(data.x_test) == n_samples
    assert len(data.x_test) == round(0.25 * n_samples)
    assert data.n_features == n_features and data.n_classes == n_classes
    assert data.y_train.max() < n_classes
    np.testing.assert_array_equal(data.x_train, load(registry, "synthetic", n_samples=n_samples,
                                                     n_features=n_features, n_classes=n_classes).x_train)


def test_npz_with_train_and_test_arrays(registry, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=rng.random((6, 2, 2)), y_train=np.array([0, 1, 2, 0, 1, 2]),
             x_test=rng.random((3, 2, 2)), y_test=np.array([2, 1, 0]))
    data = load(registry, "npz", path=str(path))
    assert data.x_train.shape == (6, 4) and data.x_test.shape == (3, 4)
    assert data.n_classes == 3 and data.x_train.dtype == np.float32


def test_npz_with_x_and_y_is_split(registry, tmp_path):
    path = tmp_path / "xy.npz"
    np.savez(path, x=np.arange(40.0).reshape(20, 2), y=np.arange(20) % 4)
    data = load(registry, "npz", path=str(path), test_fraction=0.5)
    assert len(data.x_train) == len(data.x_test) == 10 and data.n_classes == 4
    assert sorted(np.concatenate([data.x_train[:, 0], data.x_test[:, 0]])) == list(np.arange(0.0, 40.0, 2.0))


def test_npz_errors_name_the_path(registry, tmp_path):
    with pytest.raises(ConfigError, match=r"dataset.path must be an .npz file .*\(no such file\), got '.*nope.npz'"):
        load(registry, "npz", path=str(tmp_path / "nope.npz"))
    np.savez(tmp_path / "odd.npz", images=np.zeros(3))
    with pytest.raises(ConfigError, match="dataset.path must be an .npz with arrays x_train"):
        load(registry, "npz", path=str(tmp_path / "odd.npz"))
    np.savez(tmp_path / "pickled.npz", x=np.array([{"a": 1}], dtype=object), y=np.array([0]))
    with pytest.raises(ConfigError, match="dataset.path must be an .npz file .* holds pickled objects, which memtech never loads"):
        load(registry, "npz", path=str(tmp_path / "pickled.npz"))
    (tmp_path / "garbage.npz").write_text("not a zip file")
    with pytest.raises(ConfigError, match="dataset.path must be an .npz file .*not a zip archive.*got '.*garbage.npz'"):
        load(registry, "npz", path=str(tmp_path / "garbage.npz"))


def test_training_on_an_npz_dataset(registry, tmp_path):
    from memtech import run_experiment

    data = load(registry, "synthetic", n_samples=400, n_features=8, n_classes=3, noise=0.3)
    path = tmp_path / "blobs.npz"
    np.savez(path, x_train=data.x_train, y_train=data.y_train, x_test=data.x_test, y_test=data.y_test)
    result = run_experiment({
        "memories": {"sram": {"technology": "sram"}},
        "schedule": {"name": "all_sram"},
        "trainer": {"name": "mlp", "hidden": [16], "epochs": 5},
        "dataset": {"name": "npz", "path": str(path)},
    }, registry=registry)
    assert result.final_test_accuracy >= 0.9

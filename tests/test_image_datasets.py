"""The standard image sets from files the tests write: IDX (gzipped and plain) and CIFAR-10 binary; where
they are looked for; and every bad file a clear ConfigError naming the key, the value and the expectation."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from memtech import ConfigError
from memtech.dataset import check_data

IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_images(images: np.ndarray) -> bytes:
    n, rows, cols = images.shape
    return struct.pack(">IIII", 0x803, n, rows, cols) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes()


def write_idx_set(folder: Path, n_train: int = 40, n_test: int = 12, gz: bool = True, seed: int = 0) -> dict:
    """A tiny MNIST-format set: each class is a bright bar at its own row, so a network can learn it."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 40, (n, 28, 28))
        images[np.arange(n), 2 + 2 * labels, :] = 250
        arrays[split] = (images, labels)
        for stem, payload in ((f"{split}-images-idx3-ubyte", idx_images(images)),
                              (f"{split}-labels-idx1-ubyte", idx_labels(labels))):
            if gz:
                (folder / f"{stem}.gz").write_bytes(gzip.compress(payload))
            else:
                (folder / stem).write_bytes(payload)
    return arrays


def write_cifar_set(folder: Path, per_batch: int = 6, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = rng.integers(0, 256, (per_batch, 3073)).astype(np.uint8)
        records[:, 0] = rng.integers(0, 10, per_batch)
        (folder / name).write_bytes(records.tobytes())


def load(registry, name, **config):
    return registry.dataset(name).from_config(config, "dataset").load_checked()


@pytest.fixture(autouse=True)
def no_data_dir(monkeypatch):
    monkeypatch.delenv("MEMTECH_DATA_DIR", raising=False)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_idx_files_gzipped_or_not(registry, tmp_path, gz):
    arrays = write_idx_set(tmp_path, gz=gz)
    data = load(registry, "mnist", path=str(tmp_path), normalize=False)
    assert data.input_shape == (1, 28, 28) and data.x_train.shape == (40, 784) and data.x_test.shape == (12, 784)
    images, labels = arrays["train"]
    np.testing.assert_array_equal(data.y_train, labels)
    np.testing.assert_allclose(data.x_train, images.reshape(40, -1) / 255, rtol=1e-6)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64 and data.n_classes == 10


def test_normalisation_is_per_channel_over_the_training_set_and_kept_for_new_data(registry, tmp_path):
    write_cifar_set(tmp_path)
    data = load(registry, "cifar10", path=str(tmp_path))
    assert data.input_shape == (3, 32, 32) and data.x_train.shape == (30, 3072) and data.x_test.shape == (6, 3072)
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0  # the arrays stay as loaded, in [0, 1]
    train, _ = data.network_inputs()
    per_channel = train.reshape(30, 3, -1)
    np.testing.assert_allclose(per_channel.mean(axis=(0, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(per_channel.std(axis=(0, 2)), 1.0, atol=1e-4)
    assert len(data.normalization.mean) == 3


def test_the_data_dir_and_the_cifar_archive_folder_are_found(registry, tmp_path, monkeypatch):
    write_idx_set(tmp_path / "fashion_mnist", gz=False)
    write_cifar_set(tmp_path / "cifar10" / "cifar-10-batches-bin")
    monkeypatch.setenv("MEMTECH_DATA_DIR", str(tmp_path))
    assert load(registry, "fashion_mnist").x_train.shape == (40, 784)
    assert load(registry, "cifar10").x_test.shape == (6, 3072)


def test_subsets_are_deterministic(registry, tmp_path):
    write_idx_set(tmp_path, n_train=60)
    a = load(registry, "mnist", path=str(tmp_path), train_size=20, test_size=5)
    b = load(registry, "mnist", path=str(tmp_path), train_size=20, test_size=5)
    other = load(registry, "mnist", path=str(tmp_path), train_size=20, test_size=5, subset_seed=1)
    assert a.x_train.shape == (20, 784) and a.x_test.shape == (5, 784)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, other.x_train)


def test_missing_files_name_the_key_every_place_looked_the_files_and_where_to_get_them(registry, tmp_path,
                                                                                         monkeypatch):
    monkeypatch.setenv("MEMTECH_DATA_DIR", str(tmp_path / "data"))
    fashion = registry.dataset("fashion_mnist")
    assert fashion.system_dirs == ("/usr/share/datasets/fashion-mnist",)  # where Debian's package puts them
    monkeypatch.setattr(fashion, "system_dirs", (str(tmp_path / "debian"),))  # this machine may have them
    with pytest.raises(ConfigError) as err:
        load(registry, "fashion_mnist")
    text = str(err.value)
    assert text.startswith("dataset.path must be a folder holding the fashion_mnist files")
    assert f"looked in: {tmp_path / 'data' / 'fashion_mnist'}; {tmp_path / 'debian'}; get them" in text
    for stem in IDX_STEMS:
        assert stem in text
    assert "apt-get install dataset-fashion-mnist" in text and "nothing is downloaded" in text
    with pytest.raises(ConfigError, match=r"cifar10 files data_batch_1\.bin.*test_batch\.bin.*cifar-10-binary\.tar\.gz"):
        load(registry, "cifar10", path=str(tmp_path))
    # an explicit dataset.path is the only place looked in
    with pytest.raises(ConfigError, match=f"looked in: {tmp_path / 'nowhere'}; get"):
        load(registry, "mnist", path=str(tmp_path / "nowhere"))


def _replace(folder: Path, name: str, payload: bytes) -> None:
    for old in folder.glob(name + "*"):
        old.unlink()
    (folder / name).write_bytes(payload)


BAD_IDX = {
    "truncated images": (lambda f: _replace(f, "train-images-idx3-ubyte", idx_images(np.zeros((40, 28, 28)))[:-100]),
                         "an IDX images file of 40 x 28 x 28 bytes after its header (truncated or padded?), got 31260"),
    "labels magic": (lambda f: _replace(f, "train-labels-idx1-ubyte", struct.pack(">II", 0x803, 40) + bytes(40)),
                     "an IDX labels file (magic number 0x00000801), got magic 0x00000803"),
    "images as labels": (lambda f: _replace(f, "t10k-images-idx3-ubyte", idx_labels(np.zeros(12))),
                         "an IDX images file (magic number 0x00000803), got magic 0x00000801"),
    "short header": (lambda f: _replace(f, "t10k-labels-idx1-ubyte", b"\x00\x00"),
                     "an IDX labels file with a 8-byte header, got 2 bytes"),
    "broken gzip": (lambda f: _replace(f, "train-images-idx3-ubyte.gz",
                                       (f / "train-images-idx3-ubyte.gz").read_bytes()[:5000]),
                    "a readable file (gzipped or not); reading it said"),
    "label count": (lambda f: _replace(f, "train-labels-idx1-ubyte", idx_labels(np.zeros(39))),
                    "as many labels as images, got 40 images in train-images-idx3-ubyte.gz and 39 labels"),
    "label range": (lambda f: _replace(f, "t10k-labels-idx1-ubyte", idx_labels(np.full(12, 11))),
                    "labels 0-9, got 11 at index 0"),
    "empty test set": (lambda f: (_replace(f, "t10k-images-idx3-ubyte", idx_images(np.zeros((0, 28, 28)))),
                                  _replace(f, "t10k-labels-idx1-ubyte", idx_labels(np.zeros(0)))),
                       "a data set with at least one test sample, got an empty test set"),
}


@pytest.mark.parametrize("case", sorted(BAD_IDX))
def test_bad_idx_files_are_refused_by_name(registry, tmp_path, case):
    write_idx_set(tmp_path)
    damage, expected = BAD_IDX[case]
    damage(tmp_path)
    with pytest.raises(ConfigError) as err:
        load(registry, "mnist", path=str(tmp_path))
    assert str(err.value).startswith("dataset.path must be ") and expected in str(err.value)
    assert str(tmp_path) in str(err.value)


@pytest.mark.parametrize("damage, expected", [
    (lambda f: (f / "data_batch_3.bin").write_bytes(bytes(3073 * 2 + 100)),
     "a CIFAR-10 binary batch of 3073-byte records (1 label byte + 3072 pixel bytes), got 6246 bytes"),
    (lambda f: (f / "test_batch.bin").write_bytes(bytes([12]) + bytes(3072)),
     "a CIFAR-10 binary batch with labels 0-9, got label 12 in record 0 (is it CIFAR-100?)"),
    (lambda f: (f / "data_batch_5.bin").write_bytes(b""), "got 0 bytes"),
])
def test_bad_cifar_files_are_refused_by_name(registry, tmp_path, damage, expected):
    write_cifar_set(tmp_path)
    damage(tmp_path)
    with pytest.raises(ConfigError) as err:
        load(registry, "cifar10", path=str(tmp_path))
    assert str(err.value).startswith("dataset.path must be ") and expected in str(err.value)


def _npz(path: Path, **arrays) -> str:
    rng = np.random.default_rng(0)
    base = {"x_train": rng.random((20, 1, 8, 8)).astype(np.float32), "y_train": np.arange(20) % 3,
            "x_test": rng.random((6, 1, 8, 8)).astype(np.float32), "y_test": np.arange(6) % 3}
    np.savez(path, **{**base, **arrays})
    return str(path)


BAD_NPZ = {
    "nan pixels": ({"x_train": np.full((20, 1, 8, 8), np.nan, np.float32)}, "a data set of finite values, got NaN or Inf in x_train[0]"),
    "inf pixels": ({"x_test": np.full((6, 64), np.inf, np.float32)}, "a data set of finite values, got NaN or Inf in x_test[0]"),
    "float labels": ({"y_train": np.linspace(0, 2, 20)}, "a data set whose labels are integers, got y_train of dtype float64"),
    "negative label": ({"y_test": np.array([0, 1, 2, -1, 0, 1])}, "labels are integers in [0, 3), got y_test[3] = -1"),
    "x/y lengths": ({"y_train": np.arange(19) % 3}, "one label per sample, got 20 x_train samples and 19 y_train labels"),
    "empty train": ({"x_train": np.zeros((0, 1, 8, 8), np.float32), "y_train": np.zeros(0, np.int64)},
                    "at least one train sample, got an empty train set"),
    "feature mismatch": ({"x_test": np.zeros((6, 1, 8, 9), np.float32)}, "train and test samples have the same size, got 64 and 72"),
    "2-D labels": ({"y_train": np.zeros((20, 2), np.int64)}, "y_train is a 1-D array of labels, got (20, 2)"),
}


@pytest.mark.parametrize("case", sorted(BAD_NPZ))
def test_bad_npz_contents_are_refused_by_name(registry, tmp_path, case):
    arrays, expected = BAD_NPZ[case]
    path = _npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ConfigError) as err:
        load(registry, "npz", path=path)
    assert str(err.value).startswith("dataset.path must be ") and expected in str(err.value)
    assert path in str(err.value)


def test_pixels_saved_as_0_255_floats_are_refused_or_scaled(registry, tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (20, 1, 8, 8)).astype(np.float32)
    path = _npz(tmp_path / "raw.npz", x_train=pixels, x_test=pixels[:6])
    with pytest.raises(ConfigError, match=r"dataset.scale must be set for .*raw.npz: its x_train holds whole numbers "
                                          r"from 0 to 25\d stored as floats, which look like 0-255 pixels"):
        load(registry, "npz", path=path)
    scaled = load(registry, "npz", path=path, scale=255)
    assert scaled.x_train.max() <= 1.0 and scaled.input_shape == (1, 8, 8)
    as_uint8 = _npz(tmp_path / "u8.npz", x_train=pixels.astype(np.uint8), x_test=pixels[:6].astype(np.uint8))
    np.testing.assert_allclose(load(registry, "npz", path=as_uint8).x_train, scaled.x_train)


def test_a_plugin_authors_data_gets_the_same_checks():
    from memtech import Data

    bad = Data(np.zeros((4, 3), np.float32), np.array([0, 1, 0, 5]), np.zeros((2, 3), np.float32), np.array([0, 1]), 2)
    with pytest.raises(ConfigError, match=r"^dataset must be a data set whose labels are integers in \[0, 2\), "
                                          r"got y_train\[3\] = 5, got 'mine'$"):
        check_data(bad, "dataset", "mine")


@pytest.mark.parametrize("dataset_args", [
    ["dataset=mnist", "dataset.path={tmp}/nowhere"],
    ["dataset=npz", "dataset.path={tmp}/bad.npz"],
])
def test_bad_data_stops_memtech_run_before_any_run_is_recorded(tmp_path, dataset_args):
    import os
    import subprocess
    import sys

    from memtech import tracking

    _npz(tmp_path / "bad.npz", y_test=np.array([0.0, 1, 2, 1, 0, 1]))  # float labels
    runs = tmp_path / "runs"
    args = [a.format(tmp=tmp_path) for a in dataset_args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run([str(Path(sys.executable).parent / "memtech-run"), *args, "trainer.epochs=1"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**env, tracking.RUNS_DIR_ENV: str(runs)})
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("memtech-run: error: dataset.path must be "), done.stderr
    assert "Traceback" not in done.stderr
    store = runs / "mlflow.db"
    if store.exists():  # the store may exist; it must hold no run
        import mlflow

        client = mlflow.MlflowClient(f"sqlite:///{store}")
        experiments = [e.experiment_id for e in client.search_experiments()]
        assert experiments == [] or client.search_runs(experiments) == []


def test_a_cnn_trains_on_idx_files_and_its_stored_model_scores_new_data_as_the_files_give_it(registry, tmp_path):
    """The stored model applies the training set's normalisation itself: new data comes in [0, 1]."""
    from memtech import StoredModel, run_experiment

    write_idx_set(tmp_path, n_train=200, n_test=50)
    config = {
        "memories": {"sram": {"technology": "sram", "capacity_mb": 4.0}},
        "schedule": {"name": "all_sram"},
        "trainer": {"name": "cnn", "epochs": 3, "layers": [
            {"type": "conv", "channels": 4, "kernel": 3, "stride": 2}, {"type": "relu"},
            {"type": "maxpool", "size": 2}, {"type": "flatten"}]},
        "dataset": {"name": "mnist", "path": str(tmp_path)},
    }
    result = run_experiment(config, registry=registry)
    assert result.final_test_accuracy >= 0.9  # each class is a bright bar at its own row
    assert result.model["input_normalization"]["mean"][0] > 0
    data = load(registry, "mnist", path=str(tmp_path))
    model = StoredModel(result.values, result.model, registry)
    assert model.accuracy(data.x_test, data.y_test) == result.final_test_accuracy


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.slow
@pytest.mark.skipif(not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file(),
                    reason="the official Fashion-MNIST files are not installed (apt-get install dataset-fashion-mnist)")
def test_the_official_fashion_mnist_files(registry):
    from memtech import run_experiment
    from test_conf import compose_config

    data = load(registry, "fashion_mnist")
    assert data.x_train.shape == (60_000, 784) and data.x_test.shape == (10_000, 784)
    assert np.bincount(data.y_train).tolist() == [6000] * 10 and np.bincount(data.y_test).tolist() == [1000] * 10
    trainer = compose_config(["trainer=lenet5"]).trainer
    config = {
        "memories": {"sram": {"technology": "sram", "capacity_mb": 4.0}},
        "schedule": {"name": "all_sram"},
        "trainer": {**{k: v for k, v in dict(trainer).items() if k != "layers"}, "epochs": 1,
                    "layers": [dict(layer) for layer in trainer.layers]},
        "dataset": {"name": "fashion_mnist", "train_size": 6000, "test_size": 2000},
    }
    result = run_experiment(config, registry=registry)
    assert result.final_test_accuracy >= 0.7  # one epoch on a tenth of the set (measured 0.75-0.77)


@pytest.mark.parametrize("preset, writer, folder", [("fashion_lenet5", write_idx_set, "fashion_mnist"),
                                                    ("cifar10_vgg", write_cifar_set, "cifar10")])
def test_the_real_data_presets_run_end_to_end_on_small_files(registry, tmp_path, monkeypatch, preset, writer, folder):
    from memtech import run_experiment
    from test_conf import compose_config, engine_dict

    writer(tmp_path / folder)
    monkeypatch.setenv("MEMTECH_DATA_DIR", str(tmp_path))
    config = engine_dict(compose_config([f"experiment={preset}", "trainer.epochs=5"]))  # 1 batch per epoch
    for key in ("tracking", "name", "description", "plugins_dir", "progress"):
        config.pop(key, None)
    result = run_experiment(config, registry=registry)
    assert result.iterations >= 1 and np.isfinite(result.final_test_loss)
    assert {row.phase for row in result.accounting} == {"mram", "sram"}

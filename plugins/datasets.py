"""Datasets: the 8x8 digits scikit-learn ships (offline), synthetic data of any size, and .npz files."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import memtech
from memtech import ConfigError, Data, Dataset, knob


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int, n_classes: int) -> Data:
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return Data(x[train].astype(np.float32), y[train].astype(np.int64), x[test].astype(np.float32), y[test].astype(np.int64), n_classes)


@dataclass(frozen=True)
class DigitsParams:
    test_fraction: float = knob(0.25, min=0.0, max=0.9, min_exclusive=True)
    split_seed: int = knob(0, min=0, help="fixed train/test split, independent of the run's seed")


class Digits(Dataset):
    """1797 handwritten digits, 8x8 pixels scaled to [0, 1], ten classes (scikit-learn's copy of UCI)."""

    name = "digits"
    Params = DigitsParams

    def load(self) -> Data:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x = bunch.data / 16.0
        return _split(x, bunch.target, self.params.test_fraction, self.params.split_seed, 10)


@dataclass(frozen=True)
class SyntheticParams:
    n_samples: int = knob(2048, min=2)
    n_features: int = knob(64, min=1)
    n_classes: int = knob(10, min=2)
    test_fraction: float = knob(0.25, min=0.0, max=0.9, min_exclusive=True)
    noise: float = knob(0.5, min=0.0, help="standard deviation of the noise around each class centre")
    seed: int = knob(0, min=0)


class Synthetic(Dataset):
    """Gaussian blobs of any size: for benchmarks and tests."""

    name = "synthetic"
    Params = SyntheticParams

    def load(self) -> Data:
        p = self.params
        rng = np.random.default_rng(p.seed)
        centres = rng.standard_normal((p.n_classes, p.n_features))
        y = rng.integers(0, p.n_classes, size=p.n_samples)
        x = centres[y] + p.noise * rng.standard_normal((p.n_samples, p.n_features))
        return _split(x, y, p.test_fraction, p.seed, p.n_classes)


@dataclass(frozen=True)
class NpzParams:
    path: str = knob("", help="an .npz file with x_train, y_train, x_test, y_test (or x, y to be split)")
    test_fraction: float = knob(0.25, min=0.0, max=0.9, min_exclusive=True)
    split_seed: int = knob(0, min=0)


class Npz(Dataset):
    """Your own data in a NumPy .npz file (loaded without pickle)."""

    name = "npz"
    Params = NpzParams

    def load(self) -> Data:
        path = Path(self.params.path).expanduser()
        if not path.is_file():
            raise ConfigError("dataset.path", self.params.path, "an existing .npz file")
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = dict(f)
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise ConfigError("dataset.path", self.params.path,
                              f"a NumPy .npz file without pickled objects (np.savez); reading it said: {exc}") from None
        if {"x_train", "y_train", "x_test", "y_test"} <= set(arrays):
            y_all = np.concatenate([arrays["y_train"], arrays["y_test"]])
            n_classes = int(y_all.max()) + 1
            return Data(
                arrays["x_train"].reshape(len(arrays["x_train"]), -1).astype(np.float32), arrays["y_train"].astype(np.int64),
                arrays["x_test"].reshape(len(arrays["x_test"]), -1).astype(np.float32), arrays["y_test"].astype(np.int64),
                n_classes,
            )
        if {"x", "y"} <= set(arrays):
            x = arrays["x"].reshape(len(arrays["x"]), -1)
            return _split(x, arrays["y"], self.params.test_fraction, self.params.split_seed, int(arrays["y"].max()) + 1)
        raise ConfigError("dataset.path", self.params.path, "an .npz with arrays x_train, y_train, x_test, y_test (or x, y)")


@memtech.hookimpl
def memtech_register_datasets(register):
    register(Digits)
    register(Synthetic)
    register(Npz)

"""Datasets: the 8x8 digits scikit-learn ships (offline), synthetic data of any size, and .npz files.

The standard image sets (MNIST, Fashion-MNIST, CIFAR-10) are in ``image_datasets.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import memtech
from memtech import ConfigError, Data, Dataset, knob
from memtech.dataset import normalize_per_channel
from memtech.datafiles import read_npz


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int, n_classes: int,
           input_shape: tuple[int, ...] | None = None) -> Data:
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return Data(x[train].astype(np.float32), _labels(y[train]), x[test].astype(np.float32), _labels(y[test]),
                n_classes, input_shape)


def _labels(y: np.ndarray) -> np.ndarray:
    """int64 labels; other dtypes are left for :func:`memtech.dataset.check_data` to refuse by name."""
    return y.astype(np.int64) if np.issubdtype(y.dtype, np.integer) else y


@dataclass(frozen=True)
class DigitsParams:
    test_fraction: float = knob(0.25, min=0.0, max=0.9, min_exclusive=True)
    split_seed: int = knob(0, min=0, help="fixed train/test split, independent of the run's seed")
    normalize: bool = knob(False, help="shift and scale the pixels to mean 0, deviation 1 (off: [0, 1], as "
                                       "every digits result recorded so far)")


class Digits(Dataset):
    """1797 handwritten digits, 8x8 pixels scaled to [0, 1], ten classes (scikit-learn's copy of UCI); a CNN
    sees them as 1 x 8 x 8 images."""

    name = "digits"
    Params = DigitsParams

    def source(self) -> str:
        return "sklearn.datasets.load_digits"

    def load(self) -> Data:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x = bunch.data / 16.0
        data = _split(x, bunch.target, self.params.test_fraction, self.params.split_seed, 10, (1, 8, 8))
        return normalize_per_channel(data) if self.params.normalize else data


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
    scale: float | None = knob(None, min=0.0, min_exclusive=True,
                               help="divide x by this (255 for 8-bit pixels stored as floats); unset: uint8 "
                                    "arrays are divided by 255 and whole-number floats above 1 are refused")
    normalize: bool = knob(False, help="shift and scale each channel to mean 0, deviation 1 over the training set")


def _sample_shape(x: np.ndarray) -> tuple[int, ...] | None:
    """(C, H, W) for image arrays (n, C, H, W) or (n, H, W); None for flat (n, features)."""
    if x.ndim == 4:
        return tuple(int(d) for d in x.shape[1:])
    if x.ndim == 3:
        return (1, int(x.shape[1]), int(x.shape[2]))
    return None


class Npz(Dataset):
    """Your own data in a NumPy .npz file (loaded without pickle); image arrays keep their (C, H, W) shape."""

    name = "npz"
    Params = NpzParams

    def _scaled(self, name: str, x: np.ndarray) -> np.ndarray:
        p = self.params
        if p.scale is not None:
            return x.astype(np.float32) / np.float32(p.scale)
        if x.dtype == np.uint8:
            return x.astype(np.float32) / np.float32(255)
        if np.issubdtype(x.dtype, np.floating) and x.size and np.isfinite(x).all():
            top = float(x.max())
            # whole numbers from 0 to 255 in image-sized samples: 8-bit pixels saved as floats
            image_sized = x.ndim >= 3 or (x.ndim == 2 and x.shape[1] >= 64)
            if (image_sized and top > 1.0 and float(x.min()) >= 0.0 and top <= 255.0
                    and bool((x == np.round(x)).all())):
                raise ConfigError("dataset.scale", None,
                                  f"set for {p.path}: its {name} holds whole numbers from 0 to {top:g} stored as "
                                  "floats, which look like 0-255 pixels and train at chance unscaled (scale=255 "
                                  "divides them by 255; scale=1 keeps them as they are)")
        return x

    def load(self) -> Data:
        arrays = read_npz(self.params.path, "dataset.path",
                          "an .npz file with x_train, y_train, x_test, y_test (or x, y), saved by np.savez")
        if {"x_train", "y_train", "x_test", "y_test"} <= set(arrays):
            x_train, x_test = arrays["x_train"], arrays["x_test"]
            shape = _sample_shape(x_train)
            y_train, y_test = _labels(arrays["y_train"]), _labels(arrays["y_test"])
            data = Data(
                _flat(self._scaled("x_train", x_train)), y_train,
                _flat(self._scaled("x_test", x_test)), y_test,
                _n_classes(np.concatenate([y_train.ravel(), y_test.ravel()])), shape,
            )
        elif {"x", "y"} <= set(arrays):
            x = arrays["x"]
            if len(x) != len(arrays["y"]):  # checked before the split indexes y by x's samples
                raise ConfigError("dataset.path", self.params.path,
                                  f"an .npz with one label per sample, got {len(x)} samples in x and "
                                  f"{len(arrays['y'])} labels in y")
            shape = _sample_shape(x)
            x = _flat(self._scaled("x", x))
            data = _split(x, arrays["y"], self.params.test_fraction, self.params.split_seed,
                          _n_classes(arrays["y"].ravel()), shape)
        else:
            raise ConfigError("dataset.path", self.params.path,
                              f"an .npz with arrays x_train, y_train, x_test, y_test (or x, y), got {sorted(arrays)}")
        _check_every_class_present(self.params.path, np.concatenate([data.y_train.ravel(), data.y_test.ravel()]))
        return normalize_per_channel(data) if self.params.normalize else data


def _check_every_class_present(path: str, labels: np.ndarray) -> None:
    """The class count is inferred as max label + 1, so labels 1..10 or 20..29 would add classes no sample
    has (the network still trains, on a wrong output layer): refuse them and say how to renumber."""
    if labels.size == 0 or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        return  # left for the data check to refuse by name
    present = np.unique(labels)
    if len(present) != int(present[-1]) + 1:
        absent = sorted(set(range(int(present[-1]) + 1)) - set(present.tolist()))
        shown = ", ".join(map(str, absent[:10])) + (", ..." if len(absent) > 10 else "")
        raise ConfigError("dataset.path", path,
                          f"an .npz whose labels are the classes 0..n-1, each present, got labels "
                          f"{int(present[0])}..{int(present[-1])} with no sample of class {shown} (renumber "
                          "them: np.unique(y, return_inverse=True)[1])")


def _flat(x: np.ndarray) -> np.ndarray:
    """(n, features) float32; an empty array keeps its feature count (left for the data check to refuse)."""
    return x.reshape(len(x), int(np.prod(x.shape[1:]))).astype(np.float32)


def _n_classes(labels: np.ndarray) -> int:
    """Classes 0..max; non-integer labels are left for the data check to refuse."""
    if labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        return 2
    return max(int(labels.max()) + 1, 2)


@memtech.hookimpl
def memtech_register_datasets(register):
    register(Digits)
    register(Synthetic)
    register(Npz)

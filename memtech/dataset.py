"""The dataset contract: a plugin returns train and test arrays, all in memory, no network access.

Every data set is checked before any work starts (:func:`check_data`): a plugin author's loader gets the
same checks as the built-in ones, and a bad file is a :class:`~memtech.errors.ConfigError` naming the key,
the value and what was expected, never a run that trains at chance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Mapping

import numpy as np

from memtech import params as _params
from memtech.errors import ConfigError


@dataclass(frozen=True)
class Normalization:
    """Per-channel shift and scale applied to every sample: x' = (x - mean[c]) / std[c]."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def apply(self, x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
        channels = input_shape[0] if len(input_shape) == 3 else 1
        shaped = np.asarray(x, dtype=np.float32).reshape(len(x), channels, -1)
        mean = np.asarray(self.mean, dtype=np.float32)[None, :, None]
        std = np.asarray(self.std, dtype=np.float32)[None, :, None]
        return ((shaped - mean) / std).reshape(len(x), -1)

    def to_json(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}


@dataclass(frozen=True)
class Data:
    """A dataset in memory: float32 features of shape (n, features), int64 labels, and the class count.

    ``input_shape`` is the shape of one sample before flattening, (C, H, W) for images (a CNN trainer sees
    it; an MLP sees the flat vector). ``normalization``, where set, is applied to every sample before the
    network sees it (:meth:`network_inputs`), in training and in a stored model's ``predict`` alike, so new
    data is given as the data set's files give it (pixels scaled to [0, 1]).
    """

    x_train: np.ndarray  # float32 (n, features)
    y_train: np.ndarray  # int64 (n,)
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    input_shape: tuple[int, ...] | None = None
    normalization: Normalization | None = None

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.input_shape) if self.input_shape is not None else (self.n_features,)

    def network_inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """(x_train, x_test) as the network sees them: with :attr:`normalization` applied."""
        if self.normalization is None:
            return self.x_train, self.x_test
        shape = self.sample_shape
        return self.normalization.apply(self.x_train, shape), self.normalization.apply(self.x_test, shape)


def normalize_per_channel(data: Data) -> Data:
    """``data`` with a normalization to mean 0 and standard deviation 1 per channel over its training set
    (applied by :meth:`Data.network_inputs`; the arrays themselves stay as loaded)."""
    shape = data.sample_shape
    channels = shape[0] if len(shape) == 3 else 1
    train = data.x_train.reshape(len(data.x_train), channels, -1)
    mean = train.mean(axis=(0, 2), dtype=np.float64)
    std = np.sqrt(((train - mean[None, :, None].astype(np.float32)) ** 2).mean(axis=(0, 2), dtype=np.float64))
    std = np.where(std > 0, std, 1.0)  # a constant channel is only shifted
    return replace(data, normalization=Normalization(tuple(float(m) for m in mean), tuple(float(v) for v in std)))


def subset(x: np.ndarray, y: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic subset of ``size`` samples (0: all), drawn without replacement, in file order."""
    if size == 0 or size >= len(x):
        return x, y
    keep = np.sort(np.random.default_rng(seed).choice(len(x), size=size, replace=False))
    return x[keep], y[keep]


def _check_split(key: str, source: Any, split: str, x: Any, y: Any, n_classes: int, n_features: int | None) -> None:
    def bad(expected: str) -> ConfigError:
        return ConfigError(key, source, expected)

    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise bad(f"a data set whose x_{split} is a 2-D array (samples, features), "
                  f"got {getattr(x, 'shape', type(x).__name__)}")
    if not isinstance(y, np.ndarray) or y.ndim != 1:
        raise bad(f"a data set whose y_{split} is a 1-D array of labels, got {getattr(y, 'shape', type(y).__name__)}")
    if len(x) == 0:
        raise bad(f"a data set with at least one {split} sample, got an empty {split} set")
    if len(x) != len(y):
        raise bad(f"a data set with one label per sample, got {len(x)} x_{split} samples and {len(y)} y_{split} labels")
    if n_features is not None and x.shape[1] != n_features:
        raise bad(f"a data set whose train and test samples have the same size, got {n_features} and {x.shape[1]} features")
    if not np.issubdtype(y.dtype, np.integer):
        raise bad(f"a data set whose labels are integers, got y_{split} of dtype {y.dtype}")
    outside = np.flatnonzero((y < 0) | (y >= n_classes))
    if len(outside):
        i = int(outside[0])
        raise bad(f"a data set whose labels are integers in [0, {n_classes}), got y_{split}[{i}] = {int(y[i])}")
    if not np.issubdtype(x.dtype, np.floating):
        raise bad(f"a data set of float32 features, got x_{split} of dtype {x.dtype}")
    finite = np.isfinite(x)
    if not finite.all():
        row = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise bad(f"a data set of finite values, got NaN or Inf in x_{split}[{row}]")


def check_data(data: Data, key: str = "dataset", source: Any = None) -> Data:
    """Refuse a data set that cannot train: raise ConfigError naming ``key`` (the value shown is ``source``)."""
    source = key if source is None else source
    if isinstance(data.n_classes, bool) or not isinstance(data.n_classes, int) or data.n_classes < 2:
        raise ConfigError(key, source, f"a data set with at least 2 classes, got n_classes = {data.n_classes!r}")
    _check_split(key, source, "train", data.x_train, data.y_train, data.n_classes, None)
    _check_split(key, source, "test", data.x_test, data.y_test, data.n_classes, data.x_train.shape[1])
    if data.input_shape is not None and math.prod(data.input_shape) != data.n_features:
        raise ConfigError(key, source, f"a data set whose input_shape {tuple(data.input_shape)} holds its "
                          f"{data.n_features} features")
    return data


class Dataset:
    """Base class of dataset plugins: set ``name`` and ``Params`` (a :func:`memtech.knob` dataclass), implement
    :meth:`load`. ``from_config`` validates the config mapping against ``Params``; :meth:`load_checked` loads
    and refuses data that cannot train (see :func:`check_data`)."""

    name: ClassVar[str] = ""
    Params: ClassVar[type] = object
    version: ClassVar[str | None] = None

    def __init__(self, params: Any):
        self.params = params

    @classmethod
    def from_config(cls, config: Mapping[str, Any], key: str) -> "Dataset":
        return cls(_params.build(cls.Params, {k: v for k, v in dict(config).items() if k != "name"}, key))

    def load(self) -> Data:
        raise NotImplementedError

    def source(self) -> str:
        """Where the data comes from, as recorded with each run (MLflow's dataset source): a file or folder
        where there is one (``params.path``), else the plugin that makes the data."""
        path = getattr(self.params, "path", None)
        return str(path) if path else f"{type(self).__module__}.{type(self).__name__}"

    def load_checked(self) -> Data:
        data = self.load()
        path = getattr(self.params, "path", None)
        if path:
            return check_data(data, "dataset.path", path)
        return check_data(data, "dataset", self.name)

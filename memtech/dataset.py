"""The dataset contract: a plugin returns train and test arrays, all in memory, no network access."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np

from memtech import params as _params


@dataclass(frozen=True)
class Data:
    """A dataset in memory: float32 features of shape (n, features), int64 labels, and the class count."""

    x_train: np.ndarray  # float32 (n, features)
    y_train: np.ndarray  # int64 (n,)
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


class Dataset:
    """Base class of dataset plugins: set ``name`` and ``Params`` (a :func:`memtech.knob` dataclass), implement
    :meth:`load`. ``from_config`` validates the config mapping against ``Params``."""

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

"""Score new data with the trained values a run stored (``model.npz``, loaded without pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from memtech.errors import ConfigError
from memtech.plugins import Registry, get_registry
from memtech.results import load_model_file


class StoredModel:
    """A trained network rebuilt from a run's stored values; scores new data on the CPU."""

    def __init__(self, values: dict[str, np.ndarray], model: dict[str, Any], registry: Registry | None = None):
        registry = registry or get_registry()
        cls = registry.trainer(model["trainer"], key="model.trainer")
        params = cls.build_params(model["trainer_params"], "model.trainer_params")
        self.trainer = cls(params, model["n_features"], model["n_classes"], np)
        self.values = values
        self.n_features = model["n_features"]

    @classmethod
    def load(cls, path: str | Path, registry: Registry | None = None) -> "StoredModel":
        path = Path(path)
        if path.is_dir():
            path = path / "model.npz"
        if not path.is_file():
            raise ConfigError("model", str(path), "a model.npz file or a folder holding one")
        values, model = load_model_file(path)
        return cls(values, model, registry)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        if x.shape[1] != self.n_features:
            raise ConfigError("x", f"shape {x.shape}", f"rows of {self.n_features} features")
        return self.trainer.logits(self.values, x)[0].argmax(axis=1)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.predict(x) == np.asarray(y)).mean())

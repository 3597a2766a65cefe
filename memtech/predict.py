"""Score new data with the trained values a run stored (``model.npz``, loaded without pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from memtech.datafiles import read_npz
from memtech.dataset import Normalization
from memtech.errors import ConfigError
from memtech.plugins import Registry, get_registry
from memtech.results import load_model_file


class ShapeError(ConfigError):
    """An array of the wrong shape; the shape reads as a shape, not as a quoted string."""

    def __init__(self, key: str, shape: tuple[int, ...], expected: str):
        super().__init__(key, shape, expected)
        self.args = (f"{key} must be {expected}, got shape {shape}",)

    def __str__(self) -> str:
        return self.args[0]


DATA_EXPECTED = "an existing .npz file with an array 'x' (or 'x_test') and optionally 'y' (or 'y_test')"


def load_data(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``(x, y or None)`` from a ``.npz`` file, loaded without pickle; a ConfigError naming ``data`` for
    anything else (a missing file, a ``.npy`` array, a file that is no zip archive)."""
    arrays = read_npz(path, "data", DATA_EXPECTED)
    x = arrays.get("x", arrays.get("x_test"))
    if x is None:
        raise ConfigError("data", str(path), f"{DATA_EXPECTED} (it holds {sorted(arrays)})")
    y = arrays.get("y", arrays.get("y_test"))
    if y is not None:
        whole = np.issubdtype(y.dtype, np.integer) or (
            np.issubdtype(y.dtype, np.floating) and bool(np.isfinite(y).all()) and bool((y == np.round(y)).all()))
        if not whole or y.ndim != 1 or len(y) != len(x):
            raise ConfigError("data", str(path), f"{DATA_EXPECTED}, y holding one whole-number class label per "
                              f"sample of x ({len(x)}), got y of dtype {y.dtype} and shape {y.shape}")
        y = y.astype(np.int64)
    return x, y


class StoredModel:
    """A trained network rebuilt from a run's stored values; scores new data on the CPU."""

    def __init__(self, values: dict[str, np.ndarray], model: dict[str, Any], registry: Registry | None = None):
        registry = registry or get_registry()
        cls = registry.trainer(model["trainer"], key="model.trainer")
        params = cls.build_params(model["trainer_params"], "model.trainer_params")
        input_shape = model.get("input_shape")  # absent in models stored before image data sets existed
        self.trainer = cls.create(params, model["n_features"], model["n_classes"], np, input_shape=input_shape)
        sizes = self.trainer.role_sizes(1)
        for role in ("weights", "biases"):
            stored = values.get(role)
            if stored is None or stored.size != sizes[role]:
                raise ConfigError("model", model["trainer"], f"a model whose stored {role} fit its network "
                                  f"({sizes[role]} values), got {None if stored is None else stored.size}")
        self.values = values
        self.n_features = model["n_features"]
        self.input_shape = tuple(input_shape) if input_shape else (self.n_features,)
        norm = model.get("input_normalization")
        self.normalization = Normalization(tuple(norm["mean"]), tuple(norm["std"])) if norm else None

    @classmethod
    def from_run(cls, uri: str, run_id: str) -> "StoredModel":
        """The model a run logged, loaded as MLflow loads it (``mlflow.pyfunc.load_model("runs:/<id>/model")``);
        a run recorded before models were MLflow models gives its model.npz."""
        import os
        import tempfile

        import mlflow

        from memtech import mlflow_model, tracking

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar per download is noise here
        if tracking.logged_model(uri, run_id) == "mlflow":
            mlflow.set_tracking_uri(uri)
            return mlflow_model.load(f"runs:/{run_id}/model").unwrap_python_model().stored
        with tempfile.TemporaryDirectory() as tmp:
            return cls.load(tracking.download_model(uri, run_id, Path(tmp)))

    @classmethod
    def load(cls, path: str | Path, registry: Registry | None = None) -> "StoredModel":
        path = Path(path)
        if path.is_dir() and (path / "MLmodel").is_file():  # a run's MLflow model: loaded as MLflow loads it
            from memtech import mlflow_model

            return mlflow_model.load(path).unwrap_python_model().stored
        if path.is_dir():
            path = path / "model.npz"
        if not path.is_file():
            raise ConfigError("model", str(path), "a model.npz file, a folder holding one, or the id (or a unique "
                              "prefix of at least 6 hex digits) of a run logged with its model")
        values, model = load_model_file(path)
        return cls(values, model, registry)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        if x.shape[1] != self.n_features:
            raise ShapeError("x", x.shape, f"rows of {self.n_features} features")
        if self.normalization is not None:  # new data arrives as the data set's files give it, scaled to [0, 1]
            x = self.normalization.apply(x, self.input_shape)
        return np.concatenate([self.trainer.logits(self.values, x[i:i + 1024])[0].argmax(axis=1)
                               for i in range(0, len(x), 1024)]) if len(x) else np.zeros(0, dtype=np.int64)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.predict(x) == np.asarray(y)).mean())

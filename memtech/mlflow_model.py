"""A run's trained network as an MLflow model (the pyfunc flavour), so that MLflow's own tools score new data::

    import mlflow
    model = mlflow.pyfunc.load_model("runs:/<run id>/model")
    classes = model.predict(x)          # x: (n, features) float32 pixels/features as the data set gives them

The model folder holds ``model.npz`` (the stored weights and biases as the memory's reads return them, and
the network's description), a signature (float32 rows of the data set's features in, int64 classes out) and
an input example. ``memtech predict RUN_ID`` loads the same folder the same way.

The model is saved as "models from code" (``memtech/pyfunc_model.py`` builds it when MLflow loads it): no
pickled Python object is stored, and loading needs memtech installed, as scoring always did.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

ARTIFACT = "model_npz"  # the name of model.npz among the model's artifacts
CODE = Path(__file__).with_name("pyfunc_model.py")


def _define_model() -> type:
    import mlflow.pyfunc

    class MemtechModel(mlflow.pyfunc.PythonModel):
        """Scores with :class:`memtech.predict.StoredModel`, on the CPU."""

        def load_context(self, context):  # noqa: ANN001, ANN201
            from memtech.predict import StoredModel

            self.stored = StoredModel.load(context.artifacts[ARTIFACT])

    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        values = model_input.to_numpy() if hasattr(model_input, "to_numpy") else np.asarray(model_input)
        return self.stored.predict(values.astype(np.float32, copy=False))

    # Set after the class is made: MLflow inspects a predict defined in the class body for type hints and
    # warns without them, but hints would make it check the input against them instead of against the
    # model's signature, which is what describes this model's input.
    MemtechModel.predict = predict
    return MemtechModel


MemtechModel = _define_model()


def save(folder: Path, model_npz: Path, n_features: int, example: np.ndarray) -> Path:
    """Write the pyfunc model of ``model_npz`` into ``folder`` (which must not exist yet)."""
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    from memtech import __version__

    # unnamed tensors: predict receives the array itself (a named one would arrive as a dict)
    signature = ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, n_features))]),
                               outputs=Schema([TensorSpec(np.dtype(np.int64), (-1,))]))
    from memtech.tracking import _quiet_store_setup

    # saving checks the input example by loading the model back: no download bar and no notes for that
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    _quiet_store_setup()
    mlflow.pyfunc.save_model(
        path=str(folder), python_model=str(CODE), artifacts={ARTIFACT: str(model_npz)}, signature=signature,
        input_example=np.asarray(example, dtype=np.float32).reshape(len(example), n_features),
        # the requirement is memtech itself: inferring it would import and run the model once more per run
        pip_requirements=[f"memtech=={__version__}"])
    return folder


def load(folder: str | Path) -> Any:
    """The pyfunc model in ``folder`` (a downloaded ``model`` artifact), as MLflow loads it."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(folder))

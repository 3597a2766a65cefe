"""Builds the MLflow pyfunc model of a memtech run when MLflow loads one ("models from code", see
memtech.mlflow_model): MLflow runs this file and takes the model it sets."""

import mlflow

from memtech.mlflow_model import MemtechModel

mlflow.models.set_model(MemtechModel())

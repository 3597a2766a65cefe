"""Multilayer perceptron: ReLU hidden layers, softmax cross-entropy, SGD (optionally with momentum) or Adam.

Its layers are :mod:`memtech.layers` (dense and ReLU) trained by :class:`memtech.network.NetworkTrainer`,
the same engine as the ``cnn`` trainer: every array carries a leading replica axis K, all K replicas'
tensors of one role sit in one flat buffer of the store, each layer a view into it. Image data sets arrive
flattened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import memtech
from memtech import knob
from memtech.layers import Dense, Layer, ReLU
from memtech.network import NetworkTrainer
from memtech.optim import TrainingParams


@dataclass(frozen=True)
class MlpParams(TrainingParams):
    hidden: list = knob([64], help="widths of the hidden layers ([] is a linear softmax classifier)")


class Mlp(NetworkTrainer):
    name = "mlp"
    Params = MlpParams

    @classmethod
    def build_params(cls, config: Mapping[str, Any], key: str) -> MlpParams:
        params = super().build_params(config, key)
        hidden = params.hidden
        if not isinstance(hidden, (list, tuple)) or not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in hidden):
            raise memtech.ConfigError(f"{key}.hidden", hidden, "a list of positive integers (layer widths)")
        return params

    def build_layers(self) -> tuple[list[Layer], list[str]]:
        layers: list[Layer] = []
        keys: list[str] = []
        for i, width in enumerate(self.params.hidden):
            layers += [Dense(width), ReLU()]
            keys += [f"trainer.hidden[{i}]"] * 2
        return [*layers, Dense(self.n_classes)], [*keys, "trainer (classifier)"]

    def network_input_shape(self) -> tuple[int, ...]:
        return (self.n_features,)  # images are flattened


@memtech.hookimpl
def memtech_register_trainers(register):
    register(Mlp)

"""Convolutional networks whose layers are given in the config: conv, maxpool, avgpool, relu, flatten, dense.

    trainer:
      name: cnn
      layers:                       # the classifier (a dense layer to the data set's classes) is appended
        - {type: conv, channels: 8, kernel: 3, padding: 1}   # stride 1 unless given
        - {type: relu}
        - {type: maxpool, size: 2}  # non-overlapping windows (stride = size)
        - {type: flatten}
        - {type: dense, units: 64}
        - {type: relu}

Trained by :class:`memtech.network.NetworkTrainer`, the engine of the ``mlp`` trainer too: weights and
biases of every layer, every activation the backward pass needs (layer inputs, ReLU outputs, max-pool
choices) and the optimizer state go through the store and the faults of the memory holding them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import memtech
from memtech import ConfigError, knob
from memtech.layers import LAYER_TYPES, Dense, Layer
from memtech.network import NetworkTrainer
from memtech.optim import TrainingParams

# Each layer type's keys: (name, smallest allowed value, default or None when required).
LAYER_KEYS: dict[str, tuple[tuple[str, int, int | None], ...]] = {
    "conv": (("channels", 1, None), ("kernel", 1, None), ("stride", 1, 1), ("padding", 0, 0)),
    "maxpool": (("size", 1, 2),),
    "avgpool": (("size", 1, 2),),
    "relu": (),
    "flatten": (),
    "dense": (("units", 1, None),),
}
DEFAULT_LAYERS = [
    {"type": "conv", "channels": 8, "kernel": 3, "padding": 1},
    {"type": "relu"},
    {"type": "maxpool", "size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 64},
    {"type": "relu"},
]


@dataclass(frozen=True)
class CnnParams(TrainingParams):
    # defaults for the default layers on the digits: 0.960-0.982 test accuracy in 10 epochs (measured, seeds 0-4)
    epochs: int = knob(10, min=1)
    learning_rate: float = knob(0.05, min=0.0, min_exclusive=True)
    momentum: float = knob(0.9, min=0.0, max=0.999, help="SGD's heavy-ball momentum; 0 disables it; Adam ignores it")
    layers: list = knob(DEFAULT_LAYERS, help="the layers before the classifier, in order (see plugins/cnn.py)")
    input_padding: int = knob(0, min=0, help="zero pixels added around every input image (LeNet-5 on the 8x8 "
                                             "digits: 10, making them 28x28)")


def _layer(spec: Any, key: str) -> Layer:
    if not isinstance(spec, Mapping) or spec.get("type") not in LAYER_KEYS:
        raise ConfigError(f"{key}.type", spec.get("type") if isinstance(spec, Mapping) else spec,
                          "one of " + ", ".join(LAYER_KEYS))
    kind = spec["type"]
    allowed = {name for name, _, _ in LAYER_KEYS[kind]}
    for extra in sorted(set(spec) - allowed - {"type"}):
        raise ConfigError(f"{key}.{extra}", spec[extra], f"a key of a {kind} layer (one of "
                          + (", ".join(sorted(allowed)) or "none") + ")")
    values = {}
    for name, lowest, default in LAYER_KEYS[kind]:
        value = spec.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
            raise ConfigError(f"{key}.{name}", value, f"an integer >= {lowest}")
        values[name] = value
    return LAYER_TYPES[kind](**values)


class Cnn(NetworkTrainer):
    name = "cnn"
    Params = CnnParams

    @classmethod
    def build_params(cls, config: Mapping[str, Any], key: str) -> CnnParams:
        params = super().build_params(config, key)
        if not isinstance(params.layers, (list, tuple)):
            raise ConfigError(f"{key}.layers", params.layers, "a list of layers ({type: conv, ...}, ...)")
        for i, spec in enumerate(params.layers):
            _layer(spec, f"{key}.layers[{i}]")
        return params

    def build_layers(self) -> tuple[list[Layer], list[str]]:
        layers = [_layer(spec, f"trainer.layers[{i}]") for i, spec in enumerate(self.params.layers)]
        keys = [f"trainer.layers[{i}]" for i in range(len(layers))]
        return [*layers, Dense(self.n_classes)], [*keys, "trainer (classifier after the last layer)"]

    @property
    def input_padding(self) -> int:
        return self.params.input_padding


@memtech.hookimpl
def memtech_register_trainers(register):
    register(Cnn)

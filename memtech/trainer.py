"""The trainer contract: a network whose stored tensors are read and written through a TensorStore.

A trainer keeps no weights of its own between steps: each step reads weights, biases and optimizer state
from the store (through the faults of the memory holding them), writes its activations during the forward
pass and reads them back in the backward pass, and writes the updated values back. Arrays carry a leading
replica axis ``K`` so that a sweep trains many networks in one batched job (``K = 1`` by default).
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from memtech import params as _params


class Trainer:
    """Base class of trainer plugins: set ``name`` and ``Params``, implement the methods below against ``xp``."""

    name: ClassVar[str] = ""
    Params: ClassVar[type] = object
    version: ClassVar[str | None] = None
    # True when K > 1 works: buffers replica-major (row r is replica r's buffer alone, offsets count one
    # replica's values), ``train_step`` takes each replica's own batch (K, N, features), sizes and MACs are
    # those of one replica. A trainer without it runs its jobs one by one.
    supports_replicas: ClassVar[bool] = False

    def __init__(self, params: Any, n_features: int, n_classes: int, xp: Any, replicas: int = 1,
                 input_shape: Sequence[int] | None = None):
        self.params = params
        self.n_features = n_features
        self.n_classes = n_classes
        self.xp = xp
        self.replicas = replicas
        # the per-sample shape the data set gives, (C, H, W) for images; samples arrive flattened
        self.input_shape = tuple(input_shape) if input_shape is not None else (n_features,)

    @classmethod
    def create(cls, params: Any, n_features: int, n_classes: int, xp: Any, replicas: int = 1,
               input_shape: Sequence[int] | None = None) -> "Trainer":
        """Build the trainer; a plugin whose ``__init__`` predates ``input_shape`` gets the flat call it knows."""
        if "input_shape" in inspect.signature(cls.__init__).parameters:
            return cls(params, n_features, n_classes, xp, replicas, input_shape=input_shape)
        return cls(params, n_features, n_classes, xp, replicas)

    @classmethod
    def build_params(cls, config: Mapping[str, Any], key: str) -> Any:
        return _params.build(cls.Params, {k: v for k, v in dict(config).items() if k != "name"}, key)

    def role_sizes(self, batch_size: int) -> dict[str, int]:
        """Number of stored values per tensor role (weights, biases, activations, optimizer) of one replica."""
        raise NotImplementedError

    def layer_slices(self) -> dict[str, list[tuple[int, int]]]:
        """Per role stored layer by layer (weights, biases), each parameter layer's (start, stop) in one
        replica's buffer, in layer order: what a per-layer placement splits. Empty: the trainer has none."""
        return {}

    def initial_values(self, rng: np.random.Generator | Sequence[np.random.Generator]) -> dict[str, np.ndarray]:
        """Initial flat float32 values of the stored roles (not activations); ``rng`` is one generator, or one
        per replica so that each replica starts as it would alone."""
        raise NotImplementedError

    def train_step(self, store: Any, x: Any, y: Any) -> Any:
        """One optimizer step through ``store``; returns the mean loss per replica (shape (K,))."""
        raise NotImplementedError

    def logits(self, values: Mapping[str, Any], x: Any) -> Any:
        """Scores (K, batch, classes) from parameter values (no memory access: evaluation passes the values as a
        read of their memory returns them); ``x`` is (batch, features), flat."""
        raise NotImplementedError

    def macs_per_step(self, batch_size: int) -> int:
        """Multiply-accumulates of one replica's training step (forward + backward), for simulated compute time."""
        raise NotImplementedError

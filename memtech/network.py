"""A network of :mod:`memtech.layers` trained through the store: the engine of the ``mlp`` and ``cnn`` trainers.

:class:`Network` lays out the parameters (every layer's weights in the ``weights`` role, its biases in
``biases``) and decides which activations the backward pass needs. Every stored buffer is replica-major: K
rows, row r laid out exactly as replica r's buffer alone (a layer's weights at the same offset in every row),
so the K replicas' stores can each hold their own row and a replica's accesses are those it makes alone. :class:`NetworkTrainer` is the :class:`~memtech.trainer.Trainer` built on
it: each step reads the parameters from their memories, writes every needed activation to the activation
memory as the forward pass produces it and reads it back in the backward pass (once per step, in reverse
order), updates through the optimizer (whose state is in the ``optimizer`` role) and writes the new values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from memtech.errors import ConfigError
from memtech.layers import Conv2d, Layer, Shape
from memtech.optim import TrainingParams, initial_state, make_optimizer
from memtech.trainer import Trainer


@dataclass(frozen=True)
class _Slot:
    """Where one stored activation of a step lies in the activation buffer."""

    offset: int
    shape: tuple[int, ...]


def image_shape(input_shape: Sequence[int]) -> Shape:
    """The per-sample shape inside the network: (features,) stays flat; (C, H, W) becomes (H, W, C)."""
    if len(input_shape) == 3:
        c, h, w = input_shape
        return (h, w, c)
    return (math.prod(input_shape),)


class Network:
    """Shapes and parameter layout of ``layers`` for ``replicas`` networks on per-sample ``in_shape``."""

    def __init__(self, layers: Sequence[Layer], in_shape: Shape, replicas: int, keys: Sequence[str]):
        self.layers = list(layers)
        self.replicas = replicas
        shape = in_shape
        for layer, key in zip(self.layers, keys):
            built = layer.build(shape)
            if isinstance(built, str):
                raise ConfigError(key, layer.kind, built)
            shape = built
        self.out_shape = shape
        self.weight_slices: list[tuple[int, int] | None] = []
        self.bias_slices: list[tuple[int, int] | None] = []
        w_off = b_off = 0
        for layer in self.layers:
            if layer.weight_shape is None:
                self.weight_slices.append(None)
                self.bias_slices.append(None)
                continue
            fan_in, fan_out = layer.weight_shape
            self.weight_slices.append((w_off, w_off + fan_in * fan_out))
            self.bias_slices.append((b_off, b_off + fan_out))
            w_off += fan_in * fan_out
            b_off += fan_out
        self.n_weights, self.n_biases = w_off, b_off  # of one replica
        # tensor i is the input of layer i (tensor 0: the data batch, never stored); tensor i + 1 its output
        self.stored_tensors = sorted(
            {i for i, layer in enumerate(self.layers) if layer.needs_input and i > 0}
            | {i + 1 for i, layer in enumerate(self.layers) if layer.needs_output})

    def tensor_shape(self, index: int) -> Shape:
        return self.layers[index].in_shape if index < len(self.layers) else self.out_shape

    def activation_values_per_sample(self) -> int:
        return (sum(math.prod(self.tensor_shape(i)) for i in self.stored_tensors)
                + sum(layer.saved_size for layer in self.layers))

    def parameters(self, weights: Any, biases: Any) -> list[tuple[Any, Any]]:
        """(W, b) views per layer: W (K, fan_in, fan_out), b (K, 1, fan_out); (None, None) without parameters.

        ``weights`` and ``biases`` are replica-major: K rows (flat or 2-D) of one replica's values each."""
        k, out = self.replicas, []
        weights, biases = weights.reshape(k, self.n_weights), biases.reshape(k, self.n_biases)
        for layer, ws, bs in zip(self.layers, self.weight_slices, self.bias_slices):
            if ws is None:
                out.append((None, None))
                continue
            fan_in, fan_out = layer.weight_shape
            out.append((weights[:, ws[0]:ws[1]].reshape(k, fan_in, fan_out),
                        biases[:, bs[0]:bs[1]].reshape(k, 1, fan_out)))
        return out

    def forward(self, xp: Any, params: list[tuple[Any, Any]], x: Any, stash: Any = None) -> Any:
        """Logits (K, N, classes) of input (K, N, *in_shape); ``stash.write`` receives what backward needs."""
        h = x
        for i, (layer, (w, b)) in enumerate(zip(self.layers, params)):
            if i == 0 and stash is not None and isinstance(layer, Conv2d):
                # the data batch is in no memory: its im2col is kept for the backward pass, not rebuilt
                stash.keep("input columns", layer._columns(xp, h))
                h, saved = layer.forward_columns(xp, stash.kept("input columns"), w, b), None
            else:
                h, saved = layer.forward(xp, h, w, b)
            if stash is not None:
                if i + 1 in self.stored_tensors:
                    stash.write(("tensor", i + 1), h)
                if saved is not None:
                    stash.write(("saved", i), saved)
        return h

    def backward(self, xp: Any, params: list[tuple[Any, Any]], x: Any, grad: Any, stash: Any,
                 flat_grads: Any = None) -> tuple[list, list]:
        """Gradients of weights and biases per layer (None for layers without) from the grad of the logits.

        With ``flat_grads`` (K, n_weights + n_biases) the gradients are written into it, each replica's row laid
        out as its parameters are (weights, then biases), and the lists hold views of it.
        """
        if flat_grads is not None:
            views = self.parameters(flat_grads[:, :self.n_weights], flat_grads[:, self.n_weights:])
            for layer, (gw, gb) in zip(self.layers, views):
                layer.grad_out = (gw, gb) if gw is not None else None
        try:
            return self._backward(xp, params, x, grad, stash)
        finally:
            for layer in self.layers:
                layer.grad_out = None

    def _backward(self, xp: Any, params: list[tuple[Any, Any]], x: Any, grad: Any, stash: Any) -> tuple[list, list]:
        read: dict[int, Any] = {0: x}

        def tensor(index: int) -> Any:
            if index not in read and index in self.stored_tensors:
                read[index] = stash.read(("tensor", index))
            return read.get(index)

        grads_w: list[Any] = [None] * len(self.layers)
        grads_b: list[Any] = [None] * len(self.layers)
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            layer_x = tensor(i) if layer.needs_input else None
            layer_y = tensor(i + 1) if layer.needs_output else None
            saved = stash.read(("saved", i)) if layer.saved_size else None
            w, _ = params[i]
            if i == 0 and isinstance(layer, Conv2d):
                grad, grads_w[i], grads_b[i] = layer.backward(xp, grad, layer_x, layer_y, w, saved, False,
                                                              columns=stash.kept("input columns"))
            else:
                grad, grads_w[i], grads_b[i] = layer.backward(xp, grad, layer_x, layer_y, w, saved,
                                                              need_input_grad=i > 0)
        return grads_w, grads_b


def softmax_cross_entropy(xp: Any, logits: Any, y: Any) -> tuple[Any, Any]:
    """(mean loss per replica (K,), its gradient w.r.t. the logits (K, N, classes)); labels ``y`` are (N,),
    shared, or (K, N), each replica's own."""
    k, batch = logits.shape[:2]
    shifted = logits - logits.max(axis=2, keepdims=True)
    exp = xp.exp(shifted)
    probs = exp / exp.sum(axis=2, keepdims=True)
    rows = xp.arange(batch)
    replicas = xp.arange(k)[:, None] if y.ndim == 2 else slice(None)
    loss = -xp.log(probs[replicas, rows, y] + 1e-12).mean(axis=1)
    grad = probs
    grad[replicas, rows, y] -= 1.0
    grad /= batch
    return loss, grad


class StoreStash:
    """Activations of one step in the store's ``activations`` role: written in order, read back by name.
    Offsets count one replica's values (the store's rows); each tensor has K rows, one per replica."""

    def __init__(self, store: Any, replicas: int = 1):
        self.store = store
        self.replicas = replicas
        self.offset = 0
        self.slots: dict[Any, _Slot] = {}
        self.local: dict[str, Any] = {}

    def keep(self, name: str, value: Any) -> None:
        """Hold a value derived from the data batch alone (no memory holds it) until the backward pass."""
        self.local[name] = value

    def kept(self, name: str) -> Any:
        return self.local[name]

    def write(self, name: Any, tensor: Any) -> None:
        self.store.write("activations", tensor, self.offset)
        self.slots[name] = _Slot(self.offset, tensor.shape)
        self.offset += tensor.size // self.replicas

    def read(self, name: Any) -> Any:
        slot = self.slots[name]
        size = math.prod(slot.shape) // self.replicas
        return self.store.read("activations", slot.offset, slot.offset + size).reshape(slot.shape)


class MemoryStash:
    """Activations kept as computed (no memory): for gradient checks and plain-maths baselines."""

    def __init__(self) -> None:
        self.tensors: dict[Any, Any] = {}

    def keep(self, name: str, value: Any) -> None:
        self.tensors[name] = value

    def kept(self, name: str) -> Any:
        return self.tensors[name]

    def write(self, name: Any, tensor: Any) -> None:
        self.tensors[name] = tensor

    def read(self, name: Any) -> Any:
        return self.tensors[name]


class NetworkTrainer(Trainer):
    """A trainer whose network is a list of layers; subclasses implement :meth:`build_layers`."""

    Params = TrainingParams
    supports_replicas = True

    def build_layers(self) -> tuple[list[Layer], list[str]]:
        """The layers, classifier included, and the config key naming each one in errors."""
        raise NotImplementedError

    def __init__(self, params: Any, n_features: int, n_classes: int, xp: Any, replicas: int = 1,
                 input_shape: Sequence[int] | None = None):
        super().__init__(params, n_features, n_classes, xp, replicas, input_shape)
        layers, keys = self.build_layers()
        self.network = Network(layers, self.network_input_shape(), replicas, keys)
        self.optimizer = make_optimizer(params)

    input_padding = 0  # zero pixels added around each input image (a CNN's knob)

    def network_input_shape(self) -> Shape:
        shape = image_shape(self.input_shape)
        if len(shape) == 3 and self.input_padding:
            h, w, c = shape
            return (h + 2 * self.input_padding, w + 2 * self.input_padding, c)
        return shape

    def prepare_input(self, x: Any) -> Any:
        """A batch of flat samples, (N, features) shared by the replicas or (K, N, features) each replica's own,
        as the network's input (K, N, *in_shape)."""
        shared = x.ndim == 2
        if shared:
            x = x[None]
        if len(self.network_input_shape()) == 3:
            c, h, w = self.input_shape
            x = x.reshape(*x.shape[:2], c, h, w).transpose(0, 1, 3, 4, 2)
            if self.input_padding:
                p = self.input_padding
                x = self.xp.pad(x, ((0, 0), (0, 0), (p, p), (p, p), (0, 0)))
        return self.xp.broadcast_to(x, (self.replicas, *x.shape[1:])) if shared else x

    # --- contract ----------------------------------------------------------------------------------
    @property
    def n_params(self) -> int:
        return self.network.n_weights + self.network.n_biases

    def layer_slices(self) -> dict[str, list[tuple[int, int]]]:
        net = self.network
        return {"weights": [s for s in net.weight_slices if s is not None],
                "biases": [s for s in net.bias_slices if s is not None]}

    def role_sizes(self, batch_size: int) -> dict[str, int]:
        return {
            "weights": self.network.n_weights,
            "biases": self.network.n_biases,
            "activations": batch_size * self.network.activation_values_per_sample(),
            "optimizer": self.optimizer.state_size(self.n_params),
        }

    def initial_values(self, rng: np.random.Generator | Sequence[np.random.Generator]) -> dict[str, np.ndarray]:
        """He-normal weights, zero biases and optimizer state, replica-major (K rows, flattened). One generator
        draws every replica's weights of a layer at once; a sequence of K generators gives each replica its own
        (replica r as if run alone)."""
        k = self.replicas
        if not isinstance(rng, np.random.Generator) and len(rng) != k:
            raise ValueError(f"initial_values needs one generator per replica ({k}), got {len(rng)}")
        blocks = []  # per layer, (K, fan_in * fan_out)
        for layer in self.network.layers:
            if layer.weight_shape is None:
                continue
            fan_in, fan_out = layer.weight_shape
            scale = np.sqrt(2.0 / fan_in) * self.params.init_scale
            if isinstance(rng, np.random.Generator):
                blocks.append(rng.standard_normal(k * fan_in * fan_out).reshape(k, -1) * scale)
            else:
                blocks.append(np.stack([r.standard_normal(fan_in * fan_out) * scale for r in rng]))
        values = {"weights": np.concatenate(blocks, axis=1).astype(np.float32).reshape(-1),
                  "biases": np.zeros(k * self.network.n_biases, dtype=np.float32)}
        optimizer_size = self.optimizer.state_size(self.n_params)
        if optimizer_size:
            values["optimizer"] = initial_state(k * optimizer_size)
        return values

    def macs_per_step(self, batch_size: int) -> int:
        # of one replica: forward (1x) + gradients w.r.t. inputs and weights (2x)
        return 3 * batch_size * sum(layer.macs_per_sample() for layer in self.network.layers)

    def logits(self, values: Mapping[str, Any], x: Any) -> Any:
        params = self.network.parameters(values["weights"], values["biases"])
        return self.network.forward(self.xp, params, self.prepare_input(x))

    def _scratch(self, name: str, shape: int | tuple[int, ...]) -> Any:
        """A float32 buffer reused from step to step: a large network's gradients and updates would otherwise
        cost a fresh allocation (and its page faults) per step. Stored values are copied into their arena, so
        nothing keeps a reference to a scratch buffer past the step."""
        buffers = self.__dict__.setdefault("_buffers", {})
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if name not in buffers or buffers[name].shape != shape:
            buffers[name] = self.xp.empty(shape, dtype=self.xp.float32)
        return buffers[name]

    def train_step(self, store: Any, x: Any, y: Any) -> Any:
        """One step of every replica; ``x`` (N, features) and ``y`` (N,) are shared, or (K, N, features) and
        (K, N) give each replica its own batch. The store's rows are the replicas (replica-major buffers)."""
        xp, net, k = self.xp, self.network, self.replicas
        weights = store.read("weights").reshape(k, net.n_weights)
        biases = store.read("biases").reshape(k, net.n_biases)
        params = net.parameters(weights, biases)
        inputs = self.prepare_input(x)
        stash = StoreStash(store, k)
        logits = net.forward(xp, params, inputs, stash)
        loss, grad = softmax_cross_entropy(xp, logits, y)
        grads = self._scratch("grads", (k, self.n_params))
        net.backward(xp, params, inputs, grad, stash, flat_grads=grads)
        change = self.optimizer.step(xp, store, grads, self._scratch)
        store.write("weights", xp.subtract(weights, change[:, :net.n_weights],
                                           out=self._scratch("weights", (k, net.n_weights))))
        store.write("biases", xp.subtract(biases, change[:, net.n_weights:],
                                          out=self._scratch("biases", (k, net.n_biases))))
        return loss

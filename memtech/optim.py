"""Optimizers whose state lives in the store's ``optimizer`` role: SGD (with optional momentum) and Adam.

An optimizer works on the flat concatenation ``[weights..., biases...]`` of a network's parameters. Its
state tensors (momentum's velocity; Adam's first and second moments) are read from the memory that holds
the ``optimizer`` role and written back at every step, so their faults act on training as weight faults do.
Adam's step count is a scalar the processor keeps in a register, not a stored tensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from memtech.params import knob

OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class TrainingParams:
    """Knobs every network trainer shares: the schedule of the data and the optimizer."""

    epochs: int = knob(20, min=1)
    batch_size: int = knob(32, min=1)
    learning_rate: float = knob(
        0.1, min=0.0, min_exclusive=True,
        help="0.1 reaches >= 0.95 test accuracy on digits with [64] hidden in 20 epochs (measured, seeds 0-5)")
    optimizer: str = knob("sgd", choices=OPTIMIZERS, help="sgd (with trainer.momentum) or adam")
    momentum: float = knob(0.0, min=0.0, max=0.999,
                           help="SGD's heavy-ball momentum; 0 disables it (and its optimizer state); Adam ignores "
                                "it (its first-moment decay is adam_beta1)")
    adam_beta1: float = knob(0.9, min=0.0, max=0.9999, help="Adam's first-moment decay (Kingma & Ba 2015)")
    adam_beta2: float = knob(0.999, min=0.0, max=0.999999, help="Adam's second-moment decay (Kingma & Ba 2015)")
    adam_epsilon: float = knob(1e-8, min=0.0, min_exclusive=True, help="added to Adam's denominator")
    init_scale: float = knob(1.0, min=0.0, min_exclusive=True, help="multiplies He-normal initial weights")


class Sgd:
    """Plain SGD, or heavy-ball momentum (PyTorch's form: v = m v + g, p -= lr v) when momentum > 0."""

    def __init__(self, learning_rate: float, momentum: float):
        self.learning_rate = learning_rate
        self.momentum = momentum

    def state_size(self, n_params: int) -> int:
        return n_params if self.momentum > 0 else 0

    def step(self, xp: Any, store: Any, grads: Any, scratch: Callable[[str, int], Any] | None = None) -> Any:
        """The parameter change to subtract, shaped like ``grads`` (K, n_params: one row per replica), which it
        may overwrite. ``scratch(name, shape)`` lends reusable buffers; without it every result is a new array.
        The state is replica-major too: the velocity's row r is replica r's."""
        if self.momentum > 0:
            out = scratch("velocity", grads.shape) if scratch else None
            velocity = xp.multiply(store.read("optimizer").reshape(grads.shape), self.momentum, out=out)
            velocity += grads
            store.write("optimizer", velocity)  # copied into its memory: the buffer may be reused
            grads = velocity
        return xp.multiply(grads, self.learning_rate, out=grads if scratch else None)


class Adam:
    """Adam (Kingma & Ba 2015, Algorithm 1) with bias-corrected moments; each replica's state row is
    [m..., v...]."""

    def __init__(self, learning_rate: float, beta1: float, beta2: float, epsilon: float):
        self.learning_rate, self.beta1, self.beta2, self.epsilon = learning_rate, beta1, beta2, epsilon
        self.steps = 0

    def state_size(self, n_params: int) -> int:
        return 2 * n_params

    def step(self, xp: Any, store: Any, grads: Any, scratch: Callable[[str, int], Any] | None = None) -> Any:
        k, n = grads.shape
        state = store.read("optimizer").reshape(k, 2, n)
        first = self.beta1 * state[:, 0] + (1 - self.beta1) * grads
        second = self.beta2 * state[:, 1] + (1 - self.beta2) * grads * grads
        store.write("optimizer", xp.stack([first, second], axis=1))
        self.steps += 1
        first_hat = first / (1 - self.beta1 ** self.steps)
        second_hat = second / (1 - self.beta2 ** self.steps)
        # a damaged second moment read back negative gives NaN here, as it would on the hardware
        return self.learning_rate * first_hat / (xp.sqrt(second_hat) + self.epsilon)


def make_optimizer(params: TrainingParams) -> Sgd | Adam:
    if params.optimizer == "adam":
        return Adam(params.learning_rate, params.adam_beta1, params.adam_beta2, params.adam_epsilon)
    return Sgd(params.learning_rate, params.momentum)


def initial_state(size: int) -> np.ndarray:
    """Every optimizer's state starts at zero."""
    return np.zeros(size, dtype=np.float32)

"""The layers of memtech's built-in networks: forward and backward maths, written once against ``xp``.

Every activation carries a leading replica axis K and then the batch axis N: ``(K, N, features)`` for flat
vectors, ``(K, N, H, W, C)`` for images. Images are channels-last inside the network so that a convolution's
im2col windows and its output need no transpose: one strided view, one copy, one batched GEMM per layer.

A layer holds no values: its weights and biases come from the store at every step, and what its backward
pass needs is named by ``needs_input`` / ``needs_output`` (the network stores those tensors once, in the
activation memory) or saved by the layer itself (max-pool choices). Nothing here loops over pixels or
samples; the convolution's scatter-add loops over the kernel's KH × KW offsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

Shape = tuple[int, ...]  # per-sample shape: (features,) or (H, W, C)


class Layer:
    """One layer of a network. ``build`` fixes its shapes; the rest is maths on ``xp`` arrays."""

    kind: ClassVar[str] = ""
    needs_input: ClassVar[bool] = False  # backward reads this layer's input (stored by the network)
    needs_output: ClassVar[bool] = False  # backward reads this layer's output
    in_shape: Shape = ()
    out_shape: Shape = ()

    def build(self, in_shape: Shape) -> Shape | str:
        """Fix the shapes for per-sample input ``in_shape``; return the output shape, or why it cannot be."""
        self.in_shape = in_shape
        self.out_shape = self._output_shape(in_shape)
        return self.out_shape

    def _output_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    # A layer with parameters has a weight matrix (fan_in, fan_out) and a bias (fan_out,) per replica.
    @property
    def weight_shape(self) -> tuple[int, int] | None:
        return None

    @property
    def saved_size(self) -> int:
        """Values per sample that the layer itself saves for its backward pass (besides input/output)."""
        return 0

    def macs_per_sample(self) -> int:
        """Multiply-accumulates of the forward pass for one sample."""
        return 0

    def forward(self, xp: Any, x: Any, w: Any, b: Any) -> tuple[Any, Any]:
        """``(output, saved)``: saved is what :attr:`saved_size` announced (or None)."""
        raise NotImplementedError

    def backward(self, xp: Any, grad: Any, x: Any, y: Any, w: Any, saved: Any, need_input_grad: bool
                 ) -> tuple[Any, Any, Any]:
        """``(grad of input or None, grad of weights, grad of bias)`` from the grad of the output."""
        raise NotImplementedError


def _shape(in_shape: Shape) -> str:
    """A per-sample shape as a user reads it: images as C x H x W (stored channels-last inside)."""
    if len(in_shape) == 3:
        h, w, c = in_shape
        return f"an image of {c} x {h} x {w}"
    return f"a flat vector of {in_shape[0]} values"


def _window_view(xp: Any, x: Any, kernel: int, stride: int, out_h: int, out_w: int) -> Any:
    """(K, N, OH, OW, KH, KW, C) strided view of the windows of a channels-last (K, N, H, W, C) array."""
    sk, sn, sh, sw, sc = x.strides
    k, n, _, _, c = x.shape
    return xp.lib.stride_tricks.as_strided(
        x, shape=(k, n, out_h, out_w, kernel, kernel, c),
        strides=(sk, sn, sh * stride, sw * stride, sh, sw, sc))


@dataclass
class Dense(Layer):
    """A fully connected layer: y = x W + b, on flat inputs."""

    units: int
    kind: ClassVar[str] = "dense"
    needs_input: ClassVar[bool] = True

    def build(self, in_shape: Shape) -> Shape | str:
        if len(in_shape) != 1:
            return f"a layer whose input is flat (put a flatten layer before it); its input is {_shape(in_shape)}"
        return super().build(in_shape)

    def _output_shape(self, in_shape: Shape) -> Shape:
        return (self.units,)

    @property
    def weight_shape(self) -> tuple[int, int]:
        return (self.in_shape[0], self.units)

    def macs_per_sample(self) -> int:
        return self.in_shape[0] * self.units

    def forward(self, xp, x, w, b):
        return xp.matmul(x, w) + b, None

    def backward(self, xp, grad, x, y, w, saved, need_input_grad):
        grad_w = xp.matmul(x.transpose(0, 2, 1), grad)
        grad_b = grad.sum(axis=1, keepdims=True)
        grad_x = xp.matmul(grad, w.transpose(0, 2, 1)) if need_input_grad else None
        return grad_x, grad_w, grad_b


@dataclass
class Conv2d(Layer):
    """A 2-D convolution (square kernel) on channels-last images, as im2col plus one batched GEMM."""

    channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    kind: ClassVar[str] = "conv"
    needs_input: ClassVar[bool] = True

    def build(self, in_shape: Shape) -> Shape | str:
        if len(in_shape) != 3:
            return f"a layer whose input is an image (C, H, W); its input is {_shape(in_shape)}"
        h, w, _ = in_shape
        if min(h, w) + 2 * self.padding < self.kernel:
            return (f"a layer whose {self.kernel}x{self.kernel} kernel fits its input: {h}x{w} pixels with padding "
                    f"{self.padding} (pad the input, e.g. trainer.input_padding, or use a smaller kernel)")
        return super().build(in_shape)

    def _output_shape(self, in_shape: Shape) -> Shape:
        h, w, _ = in_shape
        return ((h + 2 * self.padding - self.kernel) // self.stride + 1,
                (w + 2 * self.padding - self.kernel) // self.stride + 1, self.channels)

    @property
    def weight_shape(self) -> tuple[int, int]:
        return (self.kernel * self.kernel * self.in_shape[2], self.channels)

    def macs_per_sample(self) -> int:
        out_h, out_w, _ = self.out_shape
        return out_h * out_w * self.weight_shape[0] * self.channels

    def _columns(self, xp: Any, x: Any) -> Any:
        """im2col: (K, N*OH*OW, KH*KW*C), each row one output pixel's receptive field."""
        p = self.padding
        if p:
            x = xp.pad(x, ((0, 0), (0, 0), (p, p), (p, p), (0, 0)))
        k, n = x.shape[:2]
        out_h, out_w, _ = self.out_shape
        windows = _window_view(xp, x, self.kernel, self.stride, out_h, out_w)
        return windows.reshape(k, n * out_h * out_w, self.weight_shape[0])

    def forward(self, xp, x, w, b):
        k, n = x.shape[:2]
        y = xp.matmul(self._columns(xp, x), w) + b
        return y.reshape(k, n, *self.out_shape), None

    def backward(self, xp, grad, x, y, w, saved, need_input_grad):
        k, n = grad.shape[:2]
        out_h, out_w, _ = self.out_shape
        grad_rows = grad.reshape(k, n * out_h * out_w, self.channels)
        grad_w = xp.matmul(self._columns(xp, x).transpose(0, 2, 1), grad_rows)
        grad_b = grad_rows.sum(axis=1, keepdims=True)
        if not need_input_grad:
            return None, grad_w, grad_b
        h, w_in, c = self.in_shape
        p, s, kk = self.padding, self.stride, self.kernel
        grad_cols = xp.matmul(grad_rows, w.transpose(0, 2, 1)).reshape(k, n, out_h, out_w, kk, kk, c)
        padded = xp.zeros((k, n, h + 2 * p, w_in + 2 * p, c), dtype=grad.dtype)
        for i in range(kk):  # col2im: scatter-add each kernel offset's slice (KH*KW slices, not pixels)
            for j in range(kk):
                padded[:, :, i:i + s * out_h:s, j:j + s * out_w:s, :] += grad_cols[:, :, :, :, i, j, :]
        return padded[:, :, p:p + h, p:p + w_in, :], grad_w, grad_b


@dataclass
class _Pool(Layer):
    """Non-overlapping pooling over size × size windows (stride = size); a remainder row/column is dropped."""

    size: int = 2

    def build(self, in_shape: Shape) -> Shape | str:
        if len(in_shape) != 3:
            return f"a layer whose input is an image (C, H, W); its input is {_shape(in_shape)}"
        if min(in_shape[:2]) < self.size:
            return f"a layer whose {self.size}x{self.size} window fits its input: {in_shape[0]}x{in_shape[1]} pixels"
        return super().build(in_shape)

    def _output_shape(self, in_shape: Shape) -> Shape:
        h, w, c = in_shape
        return (h // self.size, w // self.size, c)

    def _windows(self, x: Any) -> Any:
        """(K, N, OH, OW, C, size*size): each output's window as the last axis (a copy)."""
        k, n = x.shape[:2]
        out_h, out_w, c = self.out_shape
        s = self.size
        cropped = x[:, :, :out_h * s, :out_w * s, :].reshape(k, n, out_h, s, out_w, s, c)
        return cropped.transpose(0, 1, 2, 4, 6, 3, 5).reshape(k, n, out_h, out_w, c, s * s)

    def _unwindow(self, xp: Any, windows: Any) -> Any:
        """Inverse of :meth:`_windows`, with zeros in a dropped remainder."""
        k, n = windows.shape[:2]
        out_h, out_w, c = self.out_shape
        h, w, _ = self.in_shape
        s = self.size
        grid = windows.reshape(k, n, out_h, out_w, c, s, s).transpose(0, 1, 2, 5, 3, 6, 4)
        grid = grid.reshape(k, n, out_h * s, out_w * s, c)
        if (out_h * s, out_w * s) == (h, w):
            return grid
        full = xp.zeros((k, n, h, w, c), dtype=windows.dtype)
        full[:, :, :out_h * s, :out_w * s, :] = grid
        return full


@dataclass
class MaxPool(_Pool):
    """Max-pooling. Which input each output took (its window position) is saved as an activation, so a
    fault in the activation memory can route a gradient to the wrong pixel, as it would on hardware."""

    kind: ClassVar[str] = "maxpool"

    @property
    def saved_size(self) -> int:
        return math.prod(self.out_shape)

    def forward(self, xp, x, w, b):
        windows = self._windows(x)
        choice = windows.argmax(axis=-1)
        y = xp.take_along_axis(windows, choice[..., None], axis=-1)[..., 0]
        return y, choice.astype(x.dtype)

    def backward(self, xp, grad, x, y, w, saved, need_input_grad):
        # A stored choice read back damaged (NaN, huge, fractional) still names a position in the window.
        last = self.size * self.size - 1
        choice = xp.clip(xp.nan_to_num(saved, nan=0.0, posinf=last, neginf=0.0), 0, last).astype(xp.int64)
        positions = xp.arange(self.size * self.size)
        windows = (positions == choice[..., None]) * grad[..., None]
        return self._unwindow(xp, windows.astype(grad.dtype)), None, None


@dataclass
class AvgPool(_Pool):
    """Average-pooling; its backward pass needs nothing stored."""

    kind: ClassVar[str] = "avgpool"

    def forward(self, xp, x, w, b):
        return self._windows(x).mean(axis=-1), None

    def backward(self, xp, grad, x, y, w, saved, need_input_grad):
        share = xp.broadcast_to(grad[..., None] / (self.size * self.size), (*grad.shape, self.size * self.size))
        return self._unwindow(xp, share), None, None


@dataclass
class ReLU(Layer):
    """max(x, 0); the backward pass reads the stored output (its sign is the mask)."""

    kind: ClassVar[str] = "relu"
    needs_output: ClassVar[bool] = True

    def forward(self, xp, x, w, b):
        return xp.maximum(x, 0), None

    def backward(self, xp, grad, x, y, w, saved, need_input_grad):
        return grad * (y > 0), None, None


@dataclass
class Flatten(Layer):
    """Images to flat vectors (channels-last order)."""

    kind: ClassVar[str] = "flatten"

    def _output_shape(self, in_shape: Shape) -> Shape:
        return (math.prod(in_shape),)

    def forward(self, xp, x, w, b):
        return x.reshape(*x.shape[:2], -1), None

    def backward(self, xp, grad, x, y, w, saved, need_input_grad):
        return grad.reshape(*grad.shape[:2], *self.in_shape), None, None


LAYER_TYPES: dict[str, type[Layer]] = {cls.kind: cls for cls in (Dense, Conv2d, MaxPool, AvgPool, ReLU, Flatten)}

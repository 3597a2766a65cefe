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

import numpy as np

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

    def workspace(self, xp: Any, name: str, shape: tuple[int, ...], dtype: Any) -> Any:
        """A scratch array kept from one step to the next (uninitialised). A convolution's im2col of a few MB,
        allocated afresh each step, spends more time in the page faults of new memory than in the copy
        (measured 1.0 ms against 0.2 ms for LeNet-5's C3 at batch 64). Only the latest shape is kept, so
        evaluation's larger batches do not pin memory. A workspace a layer hands on (its output, its input's
        gradient) is consumed by the next layer before this one runs again: each layer runs once per pass,
        and whatever is stored is copied into its memory."""
        spaces = self.__dict__.setdefault("_workspaces", {})
        space = spaces.get(name)
        if space is None or space.shape != shape or space.dtype != dtype:
            space = spaces[name] = xp.empty(shape, dtype=dtype)
        return space

    def forward(self, xp: Any, x: Any, w: Any, b: Any) -> tuple[Any, Any]:
        """``(output, saved)``: saved is what :attr:`saved_size` announced (or None)."""
        raise NotImplementedError

    def backward(self, xp: Any, grad: Any, x: Any, y: Any, w: Any, saved: Any, need_input_grad: bool
                 ) -> tuple[Any, Any, Any]:
        """``(grad of input or None, grad of weights, grad of bias)`` from the grad of the output. A layer with
        parameters writes them into :attr:`grad_out` (weights, bias) where the network has set it: views of
        one flat gradient buffer, so no concatenation copies them afterwards."""
        raise NotImplementedError

    grad_out: tuple[Any, Any] | None = None


def matmul(xp: Any, a: Any, b: Any, out: Any = None) -> Any:
    """``a @ b`` for stacks (K, m, k) @ (K, k, n), one replica's matrices at a time on NumPy.

    NumPy's 3-D matmul on a transposed stack (a gradient's ``x^T @ grad``) measured up to 7x slower than one
    2-D GEMM per replica, which BLAS runs without copying the transposed operand; per-replica GEMMs also give
    each replica exactly the result it gets alone. CuPy runs the stack as one batched cuBLAS call.
    """
    if xp is not np:
        return xp.matmul(a, b, out=out)
    k = max(a.shape[0], b.shape[0])
    if k == 1:
        if out is not None:
            np.matmul(a[0], b[0], out=out[0])
            return out
        return np.matmul(a[0], b[0])[None]
    if out is None:
        out = np.empty((k, a.shape[1], b.shape[2]), dtype=np.result_type(a.dtype, b.dtype))
    for r in range(k):
        np.matmul(a[r if a.shape[0] > 1 else 0], b[r if b.shape[0] > 1 else 0], out=out[r])
    return out


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
        return matmul(xp, x, w) + b, None

    def backward(self, xp, grad, x, y, w, saved, need_input_grad):
        into_w, into_b = self.grad_out or (None, None)
        grad_w = matmul(xp, x.transpose(0, 2, 1), grad, out=into_w)
        grad_b = grad.sum(axis=1, keepdims=True, out=into_b)
        grad_x = matmul(xp, grad, w.transpose(0, 2, 1)) if need_input_grad else None
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

    def _columns(self, xp: Any, x: Any, workspace: str = "columns") -> Any:
        """im2col: (K, N*OH*OW, KH*KW*C), each row one output pixel's receptive field, in a workspace."""
        p = self.padding
        if p:
            x = xp.pad(x, ((0, 0), (0, 0), (p, p), (p, p), (0, 0)))
        k, n, _, _, c = x.shape
        out_h, out_w, _ = self.out_shape
        windows = _window_view(xp, x, self.kernel, self.stride, out_h, out_w)
        if c < 4:
            # With 1-3 channels a channel-innermost copy moves a float or two per inner loop (measured 5x
            # slower on 1 x 28 x 28): copy with the output column innermost and hand back the transposed view,
            # which the GEMMs take as it is.
            source = windows.transpose(0, 4, 5, 6, 1, 2, 3)
            columns = self.workspace(xp, workspace, source.shape, x.dtype)
            columns[...] = source
            return columns.reshape(k, self.weight_shape[0], n * out_h * out_w).transpose(0, 2, 1)
        columns = self.workspace(xp, workspace, windows.shape, x.dtype)
        columns[...] = windows
        return columns.reshape(k, n * out_h * out_w, self.weight_shape[0])

    def forward(self, xp, x, w, b):
        return self.forward_columns(xp, self._columns(xp, x), w, b), None

    def forward_columns(self, xp: Any, columns: Any, w: Any, b: Any) -> Any:
        k = columns.shape[0]
        out_h, out_w, _ = self.out_shape
        y = matmul(xp, columns, w, out=self.workspace(xp, "output", (k, columns.shape[1], self.channels), w.dtype))
        y += b
        return y.reshape(k, columns.shape[1] // (out_h * out_w), *self.out_shape)

    def backward(self, xp, grad, x, y, w, saved, need_input_grad, columns=None):
        """``columns``: the forward pass's im2col of ``x``, reusable only where ``x`` is not read back from a
        memory (the data batch); a stored input is read back and its columns rebuilt, faults included."""
        k, n = grad.shape[:2]
        out_h, out_w, _ = self.out_shape
        grad_rows = grad.reshape(k, n * out_h * out_w, self.channels)
        columns = self._columns(xp, x) if columns is None else columns
        into_w, into_b = self.grad_out or (None, None)
        grad_w = matmul(xp, columns.transpose(0, 2, 1), grad_rows, out=into_w)
        grad_b = grad_rows.sum(axis=1, keepdims=True, out=into_b)
        if not need_input_grad:
            return None, grad_w, grad_b
        h, w_in, c = self.in_shape
        p, s, kk = self.padding, self.stride, self.kernel
        # col2im, channels-first so that each add moves whole rows of output pixels (measured 2x faster than
        # channel-innermost): grad of the columns, transposed, is W @ grad_rows^T; each kernel offset's slice
        # is added where that offset read from (KH*KW adds, not one per pixel).
        grad_cols = matmul(xp, w, grad_rows.transpose(0, 2, 1),
                           out=self.workspace(xp, "grad columns", (k, w.shape[1], grad_rows.shape[1]), grad.dtype))
        grad_cols = grad_cols.reshape(k, kk, kk, c, n, out_h, out_w)
        padded = self.workspace(xp, "grad input", (k, c, n, h + 2 * p, w_in + 2 * p), grad.dtype)
        padded.fill(0)
        for i in range(kk):
            for j in range(kk):
                padded[:, :, :, i:i + s * out_h:s, j:j + s * out_w:s] += grad_cols[:, i, j]
        return padded[:, :, :, p:p + h, p:p + w_in].transpose(0, 2, 3, 4, 1), grad_w, grad_b


@dataclass
class _Pool(Layer):
    """Non-overlapping pooling over size x size windows (stride = size); a remainder row/column is dropped.

    Each of the size x size window positions is one strided view of the input, so the maths loops over
    window positions (4 for 2 x 2), never over pixels, and copies nothing into a window layout.
    """

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

    def _positions(self, x: Any) -> list[Any]:
        """One (K, N, OH, OW, C) strided view per window position, in row order."""
        out_h, out_w, _ = self.out_shape
        s = self.size
        return [x[:, :, i:i + s * out_h:s, j:j + s * out_w:s, :] for i in range(s) for j in range(s)]


@dataclass
class MaxPool(_Pool):
    """Max-pooling. Which input each output took (its window position) is saved as an activation, so a
    fault in the activation memory can route a gradient to the wrong pixel, as it would on hardware."""

    kind: ClassVar[str] = "maxpool"

    @property
    def saved_size(self) -> int:
        return math.prod(self.out_shape)

    def forward(self, xp, x, w, b):
        views = self._positions(x)
        if len(views) == 4:  # 2 x 2: a tournament of two pairs (the usual case, ~3x faster than the loop)
            left, right = xp.maximum(views[0], views[1]), xp.maximum(views[2], views[3])
            right_wins = right > left  # strict comparisons everywhere: a tie keeps the first position
            choice = xp.where(right_wins, (views[3] > views[2]) + xp.float32(2), views[1] > views[0])
            return xp.maximum(left, right), choice.astype(x.dtype)
        y = views[0].copy()
        choice = xp.zeros(y.shape, dtype=x.dtype)
        for position, view in enumerate(views[1:], start=1):
            larger = view > y
            y = xp.maximum(y, view)
            choice[larger] = position
        return y, choice

    def backward(self, xp, grad, x, y, w, saved, need_input_grad):
        # A stored choice read back damaged (NaN, huge, fractional) still names a position in the window.
        last = self.size * self.size - 1
        choice = xp.clip(xp.nan_to_num(saved, nan=0.0, posinf=last, neginf=0.0), 0, last).astype(xp.int32)
        grad_x = self.workspace(xp, "grad input", (grad.shape[0], grad.shape[1], *self.in_shape), grad.dtype)
        if (self.out_shape[0] * self.size, self.out_shape[1] * self.size) != self.in_shape[:2]:
            grad_x.fill(0)  # the dropped remainder gets no gradient; every other element is written below
        for position, view in enumerate(self._positions(grad_x)):
            xp.multiply(grad, choice == position, out=view)
        return grad_x, None, None


@dataclass
class AvgPool(_Pool):
    """Average-pooling; its backward pass needs nothing stored."""

    kind: ClassVar[str] = "avgpool"

    def forward(self, xp, x, w, b):
        views = self._positions(x)
        total = views[0].copy()
        for view in views[1:]:
            total += view
        return total / (self.size * self.size), None

    def backward(self, xp, grad, x, y, w, saved, need_input_grad):
        share = grad / (self.size * self.size)
        grad_x = xp.zeros((grad.shape[0], grad.shape[1], *self.in_shape), dtype=grad.dtype)
        for view in self._positions(grad_x):
            view[...] = share
        return grad_x, None, None


@dataclass
class ReLU(Layer):
    """max(x, 0); the backward pass reads the stored output (its sign is the mask)."""

    kind: ClassVar[str] = "relu"
    needs_output: ClassVar[bool] = True

    def forward(self, xp, x, w, b):
        return xp.maximum(x, 0, out=self.workspace(xp, "output", x.shape, x.dtype)), None

    def backward(self, xp, grad, x, y, w, saved, need_input_grad):
        return xp.multiply(grad, y > 0, out=self.workspace(xp, "grad input", grad.shape, grad.dtype)), None, None


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

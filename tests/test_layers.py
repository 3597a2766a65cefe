"""The layers' backward passes against central finite differences, in float64, with two replicas."""

from __future__ import annotations

import numpy as np
import pytest

from memtech.layers import AvgPool, Conv2d, Dense, Flatten, MaxPool, ReLU
from memtech.network import MemoryStash, Network, softmax_cross_entropy

K = 2  # replicas: each replica's loss depends on its own parameters only


def _network(layers, in_shape):
    return Network(layers, in_shape, K, [f"layers[{i}]" for i in range(len(layers))])


def _loss(net, weights, biases, x, y):
    """Cross-entropy summed over replicas, as an exact log-softmax (the trainer's loss adds 1e-12 inside the
    log, which the gradient rightly ignores but a finite difference would see at tiny probabilities)."""
    logits = net.forward(np, net.parameters(weights, biases), x)
    shifted = logits - logits.max(axis=2, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))
    return float(-log_probs[:, np.arange(len(y)), y].mean(axis=1).sum())


def _check_gradients(net, x, y, seed=0, samples=60):
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal(K * net.n_weights) * 0.5  # replica-major: K rows of one replica's layout
    biases = rng.standard_normal(K * net.n_biases) * 0.1
    params = net.parameters(weights, biases)
    stash = MemoryStash()
    logits = net.forward(np, params, x, stash)
    _, grad = softmax_cross_entropy(np, logits, y)
    grads_w, grads_b = net.backward(np, params, x, grad, stash)
    analytic_w = np.concatenate([g.reshape(K, -1) for g in grads_w if g is not None], axis=1).reshape(-1)
    analytic_b = np.concatenate([g.reshape(K, -1) for g in grads_b if g is not None], axis=1).reshape(-1)
    eps = 1e-6
    for flat, analytic, is_weight in ((weights, analytic_w, True), (biases, analytic_b, False)):
        for i in rng.choice(len(flat), size=min(samples, len(flat)), replace=False):
            saved = flat[i]
            flat[i] = saved + eps
            up = _loss(net, weights, biases, x, y)
            flat[i] = saved - eps
            down = _loss(net, weights, biases, x, y)
            flat[i] = saved
            numeric = (up - down) / (2 * eps)
            assert analytic[i] == pytest.approx(numeric, rel=1e-5, abs=1e-8), (
                f"{'weight' if is_weight else 'bias'} {i}: analytic {analytic[i]}, numeric {numeric}")


def _images(n, h, w, c, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((K, n, h, w, c)), rng.integers(0, 3, n)  # each replica its own images


@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 1), (2, 0)])
def test_convolution_gradients(stride, padding):
    # conv -> conv: the second conv's input gradient reaches the first conv's weights
    x, y = _images(3, 7, 6, 2)
    net = _network([Conv2d(3, 3, stride, padding), Conv2d(2, 2, 1, padding), Flatten(), Dense(3)], (7, 6, 2))
    _check_gradients(net, x, y)


@pytest.mark.parametrize("pool", [MaxPool(2), AvgPool(2), MaxPool(3), AvgPool(3)])
def test_pooling_gradients_including_a_dropped_remainder(pool):
    x, y = _images(3, 7, 7, 2, seed=2)  # 7 is not a multiple of 2: the last row and column are dropped
    net = _network([Conv2d(3, 2, 1, 1), pool, Flatten(), Dense(3)], (7, 7, 2))
    _check_gradients(net, x, y)


def test_relu_flatten_and_dense_gradients():
    x, y = _images(4, 4, 4, 1, seed=3)
    net = _network([Conv2d(4, 3, 1, 1), ReLU(), Flatten(), Dense(6), ReLU(), Dense(5), ReLU(), Dense(3)], (4, 4, 1))
    _check_gradients(net, x, y)


def test_lenet5_shaped_network_gradients():
    x, y = _images(2, 12, 12, 1, seed=4)
    layers = [Conv2d(3, 5, 1, 2), ReLU(), MaxPool(2), Conv2d(4, 3), ReLU(), AvgPool(2), Flatten(), Dense(8), ReLU(),
              Dense(3)]
    _check_gradients(_network(layers, (12, 12, 1)), x, y, samples=40)


def test_max_pool_routes_the_gradient_to_the_chosen_input_and_survives_damaged_choices():
    pool = MaxPool(2)
    pool.build((2, 2, 1))
    x = np.array([1.0, 5.0, 3.0, 2.0]).reshape(1, 1, 2, 2, 1)
    y, choice = pool.forward(np, x, None, None)
    assert y.reshape(-1).tolist() == [5.0] and choice.reshape(-1).tolist() == [1.0]
    grad_x, _, _ = pool.backward(np, np.ones((1, 1, 1, 1, 1)), x, y, None, choice, True)
    assert grad_x.reshape(-1).tolist() == [0.0, 1.0, 0.0, 0.0]
    # a choice read back as NaN, as a huge number or as a negative one still names a window position
    for damaged, position in ((np.nan, 0), (3e38, 3), (-7.0, 0), (2.0000002, 2)):
        grad_x, _, _ = pool.backward(np, np.ones((1, 1, 1, 1, 1)), x, y, None, np.full((1, 1, 1, 1, 1), damaged), True)
        assert grad_x.reshape(-1).tolist() == [float(i == position) for i in range(4)]


def test_convolution_matches_a_direct_sum():
    """im2col + GEMM gives the textbook convolution (cross-correlation) sum."""
    rng = np.random.default_rng(5)
    conv = Conv2d(channels=2, kernel=3, stride=2, padding=1)
    conv.build((5, 5, 2))
    x = rng.standard_normal((1, 1, 5, 5, 2))
    w = rng.standard_normal((1, 3 * 3 * 2, 2))
    b = rng.standard_normal((1, 1, 2))
    y, _ = conv.forward(np, x, w, b)
    padded = np.pad(x[0, 0], ((1, 1), (1, 1), (0, 0)))
    kernel = w[0].reshape(3, 3, 2, 2)  # (KH, KW, C_in, C_out)
    for i in range(3):
        for j in range(3):
            window = padded[2 * i:2 * i + 3, 2 * j:2 * j + 3, :]
            expected = np.einsum("hwc,hwcf->f", window, kernel) + b[0, 0]
            np.testing.assert_allclose(y[0, 0, i, j], expected, rtol=1e-12)

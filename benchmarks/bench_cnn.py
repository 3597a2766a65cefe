"""A LeNet-5 training step and the large MLP's: memtech against a plain PyTorch loop and against the same maths
without the store, same shapes, batch, optimizer and threads, in one run.

    python benchmarks/bench_cnn.py                 # one BLAS / torch thread
    python benchmarks/bench_cnn.py --threads 2

Rows, each in steps per second and as a ratio to PyTorch (> 1: memtech is faster):
  memtech sram      every tensor in error-free SRAM: the store's cost of routing and counting every access
  memtech mram      weights and biases in STT-MRAM at the relaxed cell's BER 1e-5 (switching bits only)
  maths only        memtech's layers with activations kept in Python and a plain NumPy update: no store
  torch             eager PyTorch (nn.Sequential, CrossEntropyLoss, optim.SGD with the same momentum)

Run it in a virtual environment that has torch (see benchmarks/README.md); without torch the torch column
is skipped with a message.
"""

from __future__ import annotations

import argparse
import os
import sys


def _threads_from_argv(argv: list[str]) -> int:
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return 1


# BLAS reads its thread count when NumPy is first imported: set it before that.
THREADS = _threads_from_argv(sys.argv[1:])
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = str(THREADS)

import time  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402
from bench_vs_torch import Timing, best_of, time_torch_loop  # noqa: E402

from memtech.network import MemoryStash, softmax_cross_entropy  # noqa: E402
from memtech.plugins import load_plugins  # noqa: E402
from memtech.storage import ROLES, Memory, SimClock, TensorStore  # noqa: E402

LENET5 = [
    {"type": "conv", "channels": 6, "kernel": 5, "padding": 2}, {"type": "relu"}, {"type": "maxpool", "size": 2},
    {"type": "conv", "channels": 16, "kernel": 5}, {"type": "relu"}, {"type": "maxpool", "size": 2},
    {"type": "flatten"}, {"type": "dense", "units": 120}, {"type": "relu"}, {"type": "dense", "units": 84},
    {"type": "relu"},
]
WORKLOADS = {
    # name: (trainer, trainer config, input shape (C, H, W) or (features,), batch, default steps)
    "lenet5": ("cnn", {"layers": LENET5}, (1, 28, 28), 64, 200),
    "mlp_large": ("mlp", {"hidden": [1024, 1024]}, (784,), 256, 40),
}
LEARNING_RATE, MOMENTUM = 0.01, 0.9
MRAM = {"technology": "stt_mram"}  # the relaxed cell's default BER 1e-5, switch-only write errors


def batches(shape: tuple[int, ...], batch: int, count: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.random((count, batch, int(np.prod(shape)))).astype(np.float32),
            rng.integers(0, 10, (count, batch)))


def make_trainer(registry: Any, workload: str) -> tuple[Any, int]:
    name, config, shape, batch, _ = WORKLOADS[workload]
    cls = registry.trainer(name)
    params = cls.build_params({**config, "learning_rate": LEARNING_RATE, "momentum": MOMENTUM}, "trainer")
    return cls(params, int(np.prod(shape)), 10, np, input_shape=shape), batch


def time_memtech(registry: Any, workload: str, weights_memory: dict, steps: int, repeats: int) -> Timing:
    trainer, batch = make_trainer(registry, workload)
    xs, ys = batches(WORKLOADS[workload][2], batch)
    sram = registry.memory("sram").from_config({"capacity_mb": 64.0}, "memories.sram")
    weights = registry.memory(weights_memory["technology"]).from_config(
        {**{k: v for k, v in weights_memory.items() if k != "technology"}, "capacity_mb": 64.0}, "memories.weights")
    placement = {**dict.fromkeys(ROLES, "sram"), "weights": "weights", "biases": "weights"}

    def run() -> tuple[float, float]:
        memories = {"sram": Memory("sram", sram, 0), "weights": Memory("weights", weights, 0)}
        store = TensorStore(trainer.role_sizes(batch), memories, np, SimClock())
        store.enter_phase("bench", placement, trainer.initial_values(np.random.default_rng(0)))
        for i in range(5):
            trainer.train_step(store, xs[i % 8], ys[i % 8])
        start = time.perf_counter()
        for i in range(steps):
            loss = trainer.train_step(store, xs[i % 8], ys[i % 8])
        return time.perf_counter() - start, float(loss[0])

    return best_of(repeats, run, steps)


def time_maths_only(registry: Any, workload: str, steps: int, repeats: int) -> Timing:
    """The same layers and update, with activations kept as computed and parameters in plain arrays."""
    trainer, batch = make_trainer(registry, workload)
    net = trainer.network
    xs, ys = batches(WORKLOADS[workload][2], batch)

    def run() -> tuple[float, float]:
        values = trainer.initial_values(np.random.default_rng(0))
        weights, biases = values["weights"], values["biases"]
        velocity = np.zeros(net.n_weights + net.n_biases, np.float32)

        def step(i: int) -> float:
            nonlocal weights, biases, velocity
            params = net.parameters(weights, biases)
            inputs = trainer.prepare_input(xs[i % 8])
            stash = MemoryStash()
            loss, grad = softmax_cross_entropy(np, net.forward(np, params, inputs, stash), ys[i % 8])
            grads_w, grads_b = net.backward(np, params, inputs, grad, stash)
            grads = np.concatenate([g.reshape(-1) for g in (*grads_w, *grads_b) if g is not None])
            velocity = MOMENTUM * velocity + grads
            weights = weights - LEARNING_RATE * velocity[:net.n_weights]
            biases = biases - LEARNING_RATE * velocity[net.n_weights:]
            return float(loss[0])

        for i in range(5):
            step(i)
        start = time.perf_counter()
        for i in range(steps):
            last = step(i)
        return time.perf_counter() - start, last

    return best_of(repeats, run, steps)


def torch_model(torch: Any, workload: str) -> Any:
    nn = torch.nn
    if workload == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                             nn.ReLU(), nn.Linear(84, 10))
    return nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))


def time_torch(workload: str, steps: int, repeats: int) -> Timing:
    import torch

    torch.set_num_threads(THREADS)
    _, _, shape, batch, _ = WORKLOADS[workload]
    xs, ys = batches(shape, batch)
    return time_torch_loop(lambda: torch_model(torch, workload), torch.from_numpy(xs).reshape(8, batch, *shape),
                           torch.from_numpy(ys), steps, repeats, LEARNING_RATE, MOMENTUM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default 1)")
    parser.add_argument("--workload", choices=[*WORKLOADS, "both"], default="both")
    parser.add_argument("--steps", type=int, help="steps per timed run (default: per workload)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row, interleaved; the fastest counts")
    args = parser.parse_args(argv)
    np.seterr(all="ignore")
    try:
        import torch

        torch_line = f"torch {torch.__version__}"
    except ImportError:
        torch = None
        torch_line = "torch is not installed here: the torch column is skipped"
    print(f"{os.cpu_count()} cores, {THREADS} thread(s); numpy {np.__version__}; {torch_line}")
    registry = load_plugins(entry_points=False)
    workloads = list(WORKLOADS) if args.workload == "both" else [args.workload]
    print(f"\n{'workload':<10} {'case':<14} {'steps/s':>10} {'ms/step':>9} {'vs torch':>9} {'vs maths only':>14}")
    for workload in workloads:
        steps = args.steps or WORKLOADS[workload][4]
        cases: dict[str, Callable[[], Timing]] = {
            "torch": (lambda: time_torch(workload, steps, 1)) if torch else None,
            "maths only": lambda: time_maths_only(registry, workload, steps, 1),
            "memtech sram": lambda: time_memtech(registry, workload, {"technology": "sram"}, steps, 1),
            "memtech mram": lambda: time_memtech(registry, workload, MRAM, steps, 1),
        }
        # interleave the repeats so that a busy moment of the machine hits every case alike
        best: dict[str, Timing] = {}
        for _ in range(args.repeats):
            for name, measure in cases.items():
                if measure is None:
                    continue
                timing = measure()
                if name not in best or timing.seconds < best[name].seconds:
                    best[name] = timing
        for name, timing in best.items():
            vs_torch = f"{timing.steps_per_s / best['torch'].steps_per_s:9.2f}" if "torch" in best else f"{'-':>9}"
            vs_maths = f"{timing.steps_per_s / best['maths only'].steps_per_s:14.2f}"
            print(f"{workload:<10} {name:<14} {timing.steps_per_s:10.1f} {1e3 / timing.steps_per_s:9.2f} {vs_torch} "
                  f"{vs_maths}" + ("" if timing.finite else "  (loss went non-finite)"), flush=True)
    print("\nlenet5: 1x28x28 input, batch 64, conv5x5(6,pad 2)-relu-maxpool-conv5x5(16)-relu-maxpool-120-84-10; "
          "mlp_large: 784-1024-1024-10, batch 256; SGD lr 0.01, momentum 0.9; memtech mram: weights and biases in "
          "STT-MRAM at BER 1e-5 (switching bits only), the rest in SRAM")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

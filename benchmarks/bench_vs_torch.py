"""memtech's MLP trainer vs a plain PyTorch training loop: same shapes, batch, steps and data, one run.

    python benchmarks/bench_vs_torch.py                      # digits-size and a large MLP, CPU (and GPU if present)
    python benchmarks/bench_vs_torch.py --shape small --steps 2000

memtech is measured three ways: all tensors in error-free SRAM (the cost of routing every access through the
store and its accounting), weights and biases in STT-MRAM at its default relaxed-cell BER (the cost of
physical fault injection), and at a high BER where every written bit may flip. PyTorch runs an eager
``nn.Sequential`` with SGD. Ratios are steps per second of memtech over PyTorch (> 1: memtech is faster).

Only the engine is imported (no Hydra, MLflow or scikit-learn), so this runs in a separate virtual
environment that has torch: ``pip install torch numpy pluggy && pip install -e . --no-deps``. Where torch is
missing the PyTorch columns are skipped with a message.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from memtech import backend
from memtech.plugins import load_plugins
from memtech.storage.replicas import load_replicas
from memtech.storage import ROLES, Memory, SimClock, TensorStore

SHAPES = {
    # name: (features, hidden widths, classes, batch)
    "small": (64, [64], 10, 32),  # the digits MLP of the default job
    "large": (784, [1024, 1024], 10, 256),  # DESIGN.md §6's launch-bound GPU example
}
DEFAULT_STEPS = {"small": 1000, "large": 30}
LEARNING_RATE = 0.01  # small enough that random-label batches never overflow float32 in either framework

MEMTECH_CASES = {
    # name: (memory config for weights and biases, description)
    "sram": ({"technology": "sram"}, "all tensors in error-free SRAM"),
    "mram": ({"technology": "stt_mram"}, "weights+biases in STT-MRAM, default BER 1e-5 (switching bits only)"),
    "mram_1e-4_switch": ({"technology": "stt_mram", "ber": 1e-4},
                         "weights+biases in STT-MRAM at BER 1e-4 (switching bits only), no protection"),
    # many flips per step, kept finite by the sanity check so the timing never runs on NaNs
    "mram_1e-4": ({"technology": "stt_mram", "ber": 1e-4, "write_error_mode": "any", "protection": "sanity"},
                  "weights+biases in STT-MRAM, every written bit flips at 1e-4, non-finite/huge reads zeroed"),
}


@dataclass
class Timing:
    steps: int
    seconds: float
    finite: bool = True  # the last loss of the last timed run: NaN arithmetic would time something else

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds


def fastest(results: list[tuple[float, float]], steps: int) -> Timing:
    """The fastest of timed runs (seconds, last loss): the least disturbed by whatever else the machine does."""
    return Timing(steps, min(seconds for seconds, _ in results), all(np.isfinite(loss) for _, loss in results))


def best_of(repeats: int, run: Callable[[], tuple[float, float]], steps: int) -> Timing:
    return fastest([run() for _ in range(repeats)], steps)


def batches(n_features: int, n_classes: int, batch: int, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, batch, n_features)).astype(np.float32)
    y = rng.integers(0, n_classes, (count, batch))
    return x, y


def time_memtech(shape: str, case: str, steps: int, repeats: int, device: str, registry: Any, replicas: int = 1) -> Timing:
    """Steps per second of ``replicas`` networks trained together (one batched step trains all of them)."""
    return best_of(repeats, memtech_runner(shape, case, steps, device, registry, replicas), steps)


def time_memtech_interleaved(shape: str, cases: list[str], steps: int, repeats: int, device: str, registry: Any,
                             replicas: int) -> dict[str, Timing]:
    """:func:`time_memtech` for several cases, their repeats interleaved (case A, B, C, A, B, C, ...) so that a
    change in the machine's load touches every case alike: the ratios between them are what is compared."""
    runners = {case: memtech_runner(shape, case, steps, device, registry, replicas) for case in cases}
    results: dict[str, list[tuple[float, float]]] = {case: [] for case in cases}
    for _ in range(repeats):
        for case, run in runners.items():
            results[case].append(run())
    return {case: fastest(runs, steps) for case, runs in results.items()}


def memtech_runner(shape: str, case: str, steps: int, device: str, registry: Any,
                   replicas: int = 1) -> Callable[[], tuple[float, float]]:
    """One timed run of ``steps`` batched steps of ``replicas`` networks: (seconds, last loss)."""
    n_features, hidden, n_classes, batch = SHAPES[shape]
    xp = backend.array_module(device)
    mlp_cls = registry.trainer("mlp")
    params = mlp_cls.build_params({"hidden": hidden, "learning_rate": LEARNING_RATE}, "trainer")
    trainer = mlp_cls(params, n_features, n_classes, xp, replicas=replicas)
    memory_config = MEMTECH_CASES[case][0]
    technologies = {
        "sram": registry.memory("sram").from_config({"capacity_mb": 64.0}, "memories.sram"),
        "weights": registry.memory(memory_config["technology"]).from_config(
            {**{k: v for k, v in memory_config.items() if k != "technology"}, "capacity_mb": 64.0},
            "memories.weights"),
    }
    placement = {role: "sram" for role in ROLES}
    placement.update(weights="weights", biases="weights")
    xs, ys = batches(n_features, n_classes, batch, 16)
    xs, ys = xp.asarray(xs), xp.asarray(ys)
    sync = (lambda: xp.cuda.Stream.null.synchronize()) if device == "gpu" else (lambda: None)

    def run() -> float:
        # each replica its own memories and seed, as in a batched sweep
        stores = [TensorStore(trainer.role_sizes(batch), {name: Memory(name, tech, seed=r)
                                                          for name, tech in technologies.items()}, xp, SimClock())
                  for r in range(replicas)]
        store = load_replicas(stores, [("bench", placement)] * replicas,
                              trainer.initial_values(np.random.default_rng(0)), xp)
        for i in range(min(10, steps)):  # warm-up: allocator, BLAS threads, CuPy kernels
            trainer.train_step(store, xs[i % 16], ys[i % 16])
        sync()
        start = time.perf_counter()
        for i in range(steps):
            loss = trainer.train_step(store, xs[i % 16], ys[i % 16])
        last = float(loss.sum())  # every replica's last loss: NaN if any went non-finite (and it must exist, on a GPU too)
        sync()
        return time.perf_counter() - start, last

    return run


def time_torch_loop(make_model: Callable[[], Any], xs: Any, ys: Any, steps: int, repeats: int,
                    learning_rate: float, momentum: float = 0.0, sync: Callable[[], None] = lambda: None) -> Timing:
    """Steps per second of a plain eager PyTorch loop (CrossEntropyLoss, SGD) over the batches ``xs``/``ys``."""
    import torch

    def run() -> tuple[float, float]:
        torch.manual_seed(0)
        model = make_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step(i: int) -> Any:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xs[i % len(xs)]), ys[i % len(ys)])
            loss.backward()
            optimizer.step()
            return loss

        for i in range(min(10, steps)):
            step(i)
        sync()
        start = time.perf_counter()
        for i in range(steps):
            loss = step(i)
        last = float(loss.detach())
        sync()
        return time.perf_counter() - start, last

    return best_of(repeats, run, steps)


def time_torch(shape: str, steps: int, repeats: int, device: str) -> Timing:
    import torch

    n_features, hidden, n_classes, batch = SHAPES[shape]
    widths = [n_features, *hidden, n_classes]
    torch_device = torch.device("cuda" if device == "gpu" else "cpu")
    xs, ys = batches(n_features, n_classes, batch, 16)
    xs = torch.from_numpy(xs).to(torch_device)
    ys = torch.from_numpy(ys).to(torch_device)

    def make_model() -> Any:
        layers: list[torch.nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(torch.nn.Linear(fan_in, fan_out))
            if i < len(widths) - 2:
                layers.append(torch.nn.ReLU())
        return torch.nn.Sequential(*layers).to(torch_device)

    sync = torch.cuda.synchronize if device == "gpu" else (lambda: None)
    return time_torch_loop(make_model, xs, ys, steps, repeats, LEARNING_RATE, sync=sync)


def torch_status() -> tuple[bool, bool, str]:
    """(torch importable, CUDA usable, a line saying which)."""
    try:
        import torch
    except ImportError:
        return False, False, "torch is not installed here: PyTorch columns skipped (pip install torch in a separate venv)"
    cuda = bool(torch.cuda.is_available())
    return True, cuda, f"torch {torch.__version__} ({torch.get_num_threads()} CPU threads{', CUDA' if cuda else ''})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=[*SHAPES, "both"], default="both")
    parser.add_argument("--steps", type=int, help="training steps per timed run (default: per shape)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement; the fastest counts")
    parser.add_argument("--replicas", type=int, nargs="+", default=[4, 16, 64],
                        help="also time K networks trained as one batched job, for each K given (DESIGN.md §9), "
                             "each replica with its own memories; at K = 16 also with injection (mram, BER 1e-5 "
                             "and 1e-4); 1 skips it")
    parser.add_argument("--device", choices=["cpu", "gpu", "both"], default="both",
                        help="both: CPU, and GPU where CuPy/CUDA (memtech) or CUDA (torch) are present")
    args = parser.parse_args(argv)

    np.seterr(all="ignore")  # a run that overflows is flagged in its row instead
    has_torch, torch_cuda, torch_line = torch_status()
    memtech_gpu = backend.gpu_available()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}; {torch_line}")
    if not memtech_gpu:
        print("no CuPy/CUDA GPU for memtech: GPU rows skipped")
    registry = load_plugins(entry_points=False)
    if registry.failures:
        for failure in registry.failures:
            print(failure)
        return 1
    devices = ["cpu", "gpu"] if args.device == "both" else [args.device]
    shapes = list(SHAPES) if args.shape == "both" else [args.shape]

    print(f"\n{'shape':<7} {'device':<6} {'memtech case':<21} {'memtech steps/s':>16} {'torch steps/s':>14} {'memtech/torch':>14} {'vs sram':>8}")
    print("(vs sram: against the same shape and device in error-free SRAM, at the same K for the xK rows)")
    for shape in shapes:
        steps = args.steps or DEFAULT_STEPS[shape]
        for device in devices:
            run_memtech = device == "cpu" or memtech_gpu
            run_torch = has_torch and (device == "cpu" or torch_cuda)
            if not (run_memtech or run_torch):
                continue
            torch_timing = time_torch(shape, steps, args.repeats, device) if run_torch else None
            sram_rate = None
            for case in MEMTECH_CASES if run_memtech else []:
                timing = time_memtech(shape, case, steps, args.repeats, device, registry)
                sram_rate = sram_rate or timing.steps_per_s
                torch_rate = f"{torch_timing.steps_per_s:14.1f}" if torch_timing else f"{'-':>14}"
                ratio = f"{timing.steps_per_s / torch_timing.steps_per_s:14.2f}" if torch_timing else f"{'-':>14}"
                note = "" if timing.finite else "  (loss went non-finite)"
                print(f"{shape:<7} {device:<6} {case:<21} {timing.steps_per_s:16.1f} {torch_rate} {ratio} "
                      f"{timing.steps_per_s / sram_rate:8.2f}{note}", flush=True)
            for k in args.replicas if run_memtech else []:
                if k <= 1:
                    continue
                # K networks per step: network-steps per second against torch running them one by one. At
                # K = 16 every case, interleaved and timed longer: the last column is the cost of injection.
                cases = list(MEMTECH_CASES) if k == 16 else ["sram"]
                batched_steps = max(3, steps // 4 if k == 16 else steps // k)
                repeats = 2 * args.repeats if k == 16 else args.repeats
                timings = time_memtech_interleaved(shape, cases, batched_steps, repeats, device, registry, k)
                sram_k = timings["sram"].steps_per_s * k
                for case, batched in timings.items():
                    rate = batched.steps_per_s * k
                    torch_rate = f"{torch_timing.steps_per_s:14.1f}" if torch_timing else f"{'-':>14}"
                    ratio = f"{rate / torch_timing.steps_per_s:14.2f}" if torch_timing else f"{'-':>14}"
                    # the last column: against the same K in error-free SRAM (the cost of injection at K)
                    print(f"{shape:<7} {device:<6} {f'{case} x{k}':<21} {rate:16.1f} {torch_rate} {ratio} "
                          f"{rate / sram_k:8.2f}  (network-steps/s)", flush=True)
            if not run_memtech and torch_timing:
                print(f"{shape:<7} {device:<6} {'(no memtech)':<21} {'-':>16} {torch_timing.steps_per_s:14.1f}")
    print("\nshapes: " + "; ".join(f"{k} = {v[0]}-{'-'.join(map(str, v[1]))}-{v[2]} at batch {v[3]}" for k, v in SHAPES.items()))
    for case, (_, description) in MEMTECH_CASES.items():
        print(f"{case}: {description}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

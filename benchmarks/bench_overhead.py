"""Training with faults against the same run on an error-free memory: wall-time overhead of the fault engine.

    .venv/bin/python benchmarks/bench_overhead.py            # default MLP (digits, hidden [64], batch 32, 860 steps)
    .venv/bin/python benchmarks/bench_overhead.py --repeats 25 --bers 1e-4 1e-5 1e-6
    .venv/bin/python benchmarks/bench_overhead.py --replicas 16 --bers 1e-4 1e-5   # 16 seeds as one batched job

Both runs have the same seed, schedule, placement, STT-MRAM parameters and step count; the baseline's MRAM
only swaps its error model for an all-zero one, so every fault path the faulty run takes (write errors by
transition, retention, read disturb) is part of the overhead. Each configuration runs ``repeats`` times,
interleaved, and the minimum process CPU time is kept (the least disturbed; CPU time rather than wall time
because a shared machine's other work stretches wall time). BLAS runs single-threaded for the same reason.
The last columns give the median of the paired ratios (faulty run / the clean run just before it) with a
distribution-free 95 % confidence interval for that median (order statistics of the binomial), so a
difference of a few percent can be told from the machine's noise.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

from scipy import stats

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # before NumPy loads its BLAS

from memtech.experiment import build_spec, run_batch, run_experiment
from memtech.memory import ErrorModel

SCHEDULES = {
    "mram_then_sram": {"name": "mram_then_sram"},  # the default job: weights and biases in MRAM for 80 %
    "all_mram": {"name": "all_mram"},  # every role in MRAM for the whole run: the most accesses
}


def config(ber: float, schedule: dict, epochs: int, seed: int = 0) -> dict:
    return {
        "seed": seed,
        "memories": {"mram": {"technology": "stt_mram", "ber": ber}, "sram": {"technology": "sram"}},
        "schedule": schedule,
        "trainer": {"name": "mlp", "hidden": [64], "epochs": epochs, "batch_size": 32, "learning_rate": 0.1},
        "dataset": {"name": "digits"},
    }


def error_free(spec):
    """The same spec with the MRAM's error model replaced by one without any error."""
    technology = spec.memories["mram"]
    quiet = type("ErrorFree" + type(technology).__name__, (type(technology),), {"error_model": lambda self: ErrorModel()})
    spec.memories["mram"] = quiet(technology.params)
    return spec


def wall_time(specs: list, data) -> tuple[float, object]:
    """Process CPU seconds of the run (one spec) or of the batched job (K specs, seeds 0..K-1); the first result."""
    start = time.process_time()
    result = run_experiment(specs[0], data=data) if len(specs) == 1 else run_batch(specs, data=data)[0]
    return time.process_time() - start, result


def median_with_ci(values: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Median of ``values`` and a distribution-free confidence interval for it (order statistics)."""
    ordered = sorted(values)
    n = len(ordered)
    # the k-th smallest and k-th largest bracket the median with probability >= confidence
    k = max(int(stats.binom.ppf((1.0 - confidence) / 2.0, n, 0.5)), 1)
    median = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2.0
    return median, ordered[k - 1], ordered[n - k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=20, help="20 epochs of digits at batch 32: 860 steps")
    parser.add_argument("--bers", type=float, nargs="+", default=[1e-4, 1e-6])
    parser.add_argument("--replicas", type=int, default=1,
                        help="seeds 0..K-1 trained as one batched job (K replicas); steps count one replica's")
    args = parser.parse_args()
    if args.replicas < 1:
        parser.error(f"--replicas must be at least 1, got {args.replicas}")
    warnings.simplefilter("ignore", RuntimeWarning)

    print(f"K = {args.replicas} replica(s) per job")
    print(f"{'schedule':16} {'ber':>8} {'steps':>6} {'clean s':>8} {'faulty s':>8} {'overhead':>9} {'flips':>7} "
          f"{'paired median [95% CI]':>26}")
    for schedule_name, schedule in SCHEDULES.items():
        for ber in args.bers:
            seeds = range(args.replicas)
            clean_spec = [error_free(build_spec(config(ber, schedule, args.epochs, seed))) for seed in seeds]
            faulty_spec = [build_spec(config(ber, schedule, args.epochs, seed)) for seed in seeds]
            data = clean_spec[0].dataset.load()
            wall_time(clean_spec, data)  # warm caches and imports once
            clean, faulty = [], []
            for _ in range(args.repeats):
                clean.append(wall_time(clean_spec, data)[0])
                seconds, result = wall_time(faulty_spec, data)
                faulty.append(seconds)
            overhead = min(faulty) / min(clean) - 1.0
            flips = int(result.metrics()["flips"])
            median, low, high = median_with_ci([f / c - 1.0 for c, f in zip(clean, faulty)])
            print(f"{schedule_name:16} {ber:8.0e} {result.iterations:6d} {min(clean):8.3f} {min(faulty):8.3f} "
                  f"{overhead:+9.1%} {flips:7d} {median:+9.1%} [{low:+6.1%}, {high:+6.1%}]", flush=True)


if __name__ == "__main__":
    main()

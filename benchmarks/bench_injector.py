"""The sparse injector against a naive per-bit-uniform injector, on the same buffer, as speed ratios.

    .venv/bin/python benchmarks/bench_injector.py

Naive (the usual approach of fault-injection tools): one float64 uniform per bit, ``u < p``, then XOR the
hit bits into the words. Sparse (memtech): geometric gaps give the hit positions directly (O(N·p) work),
then the same XOR. Both flip each bit independently with probability p; the table also prints the flips
each made, which agree within sampling noise. Two buffers: a large one (4 Mi float32 words, 128 Mibit),
where the naive injector's cost is the per-bit pass, and one the size of the default MLP's weights (4 736
words), injected once per training step, where the fixed cost per call is what matters. Times are the
best of several runs of process CPU time. The last table times a store's write and read of those 4 736
weights under several fault configurations (each a different path through memtech/storage/).
"""

from __future__ import annotations

import os
import time

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402

from memtech import faults  # noqa: E402
from memtech.memory import ErrorModel, MemoryParams, MemoryTechnology  # noqa: E402
from memtech.storage import Arena, Memory, SimClock  # noqa: E402

BITS = 32


def naive_inject(words: np.ndarray, p: float, rng: np.random.Generator) -> int:
    hit = rng.random(words.size * BITS) < p
    positions = np.flatnonzero(hit)
    np.bitwise_xor.at(words, positions // BITS, np.left_shift(np.uint32(1), (positions % BITS).astype(np.uint32)))
    return len(positions)


def sparse_inject(words: np.ndarray, view: memoryview, p: float, stream: faults.BernoulliStream) -> int:
    """The engine's two paths: a handful of hits element by element, many hits as one unbuffered XOR scatter."""
    n_bits = words.size * BITS
    if n_bits * p <= 32:
        first, positions = stream.take_span(n_bits, p)
        if len(positions) <= 32:
            for position in positions:
                position -= first
                view[position >> 5] ^= 1 << (position & 31)
            return len(positions)
        positions = np.array(positions, dtype=np.int64) - first
    else:
        positions = stream.take(n_bits, p)
    np.bitwise_xor.at(words, positions >> 5, np.left_shift(np.uint32(1), (positions & 31).astype(np.uint32)))
    return len(positions)


class _Tech(MemoryTechnology):
    name = "bench"

    def __init__(self, errors: ErrorModel, **params):
        super().__init__(MemoryParams(technology="bench", capacity_mb=1024.0, **params))
        self._errors = errors

    def error_model(self) -> ErrorModel:
        return self._errors


def best_of(fn, repeats: int, calls: int) -> tuple[float, int]:
    best, flips = float("inf"), 0
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            flips += fn()
        best = min(best, (time.process_time() - start) / calls)
    return best, flips


def main() -> None:
    print(f"{'buffer':>18} {'p':>6} {'naive s/call':>13} {'sparse s/call':>14} {'speed-up':>10} {'flips naive/sparse':>20}")
    for n_words, naive_calls, sparse_calls in ((1 << 22, 1, 20), (4736, 200, 20000)):
        words = np.random.default_rng(0).integers(0, 2**32, n_words, dtype=np.uint32)
        for p in (1e-3, 1e-4, 1e-6, 1e-9):
            rng = np.random.default_rng(1)
            stream = faults.BernoulliStream(faults.stream_rng(1, "bench", str(p)))
            naive_s, naive_flips = best_of(lambda: naive_inject(words, p, rng), 3, naive_calls)
            view = memoryview(words)
            sparse_s, sparse_flips = best_of(lambda: sparse_inject(words, view, p, stream), 3, sparse_calls)
            label = f"{n_words} words"
            print(f"{label:>18} {p:6.0e} {naive_s:13.2e} {sparse_s:14.2e} {naive_s / sparse_s:9.0f}x "
                  f"{naive_flips / (3 * naive_calls):>10.3g}/{sparse_flips / (3 * sparse_calls):<9.3g}")

    # The whole write path of a memory (encode, switch-only write errors, flips, accounting) against the
    # naive injector on the same 4 736-word buffer, per training-step write.
    print(f"\n{'arena write path':>18} {'p':>6} {'naive s/call':>13} {'write s/call':>14} {'speed-up':>10} {'clean write s':>14}")
    values = [np.random.default_rng(i).standard_normal(4736).astype(np.float32) for i in range(16)]
    clean = Arena("weights", 4736, Memory("m", _Tech(ErrorModel()), 0), np, SimClock(), ["p"])
    counter = [0]

    def write(arena):
        counter[0] += 1
        arena.write(values[counter[0] % 16])
        return 0

    clean_s, _ = best_of(lambda: write(clean), 5, 5000)
    for p in (1e-3, 1e-4, 1e-6, 1e-9):
        arena = Arena("weights", 4736, Memory("m", _Tech(ErrorModel(write_ber_0to1=p, write_ber_1to0=p)), 0), np,
                      SimClock(), ["p"])
        words = np.random.default_rng(0).integers(0, 2**32, 4736, dtype=np.uint32)
        rng = np.random.default_rng(1)
        naive_s, _ = best_of(lambda: naive_inject(words, p, rng), 3, 200)
        write_s, _ = best_of(lambda: write(arena), 5, 5000)
        print(f"{'4736 words':>18} {p:6.0e} {naive_s:13.2e} {write_s:14.2e} {naive_s / write_s:9.0f}x {clean_s:14.2e}")

    # A store's write, and a write followed by a read (a training step's pattern: a read after each write sees
    # that write's damage), of the same buffer under each kind of fault path.
    cases = {
        "error-free": (ErrorModel(), {}),
        "switch-only 1e-5": (ErrorModel(write_ber_0to1=1e-5, write_ber_1to0=1e-5), {}),
        "switch-only 1e-4": (ErrorModel(write_ber_0to1=1e-4, write_ber_1to0=1e-4), {}),
        "any-bit 1e-4, sanity": (ErrorModel.uniform_write(1e-4), {"protection": "sanity"}),
        "any-bit 1e-5, parity": (ErrorModel.uniform_write(1e-5), {"protection": "parity"}),
        "any-bit 1e-4, SECDED": (ErrorModel.uniform_write(1e-4), {"protection": "secded"}),
        "asymmetric, disturb, sense": (ErrorModel(write_ber_0to1=1e-4, write_ber_1to0=3e-5, write_ber_hold=1e-6,
                                                  read_disturb_ber=1e-6, read_sense_ber=1e-6), {}),
    }
    print(f"\n{'store path (4736 words)':>28} {'write s/call':>13} {'write+read s/call':>18}")
    for name, (errors, params) in cases.items():
        arena = Arena("weights", 4736, Memory("m", _Tech(errors, **params), 0), np, SimClock(), ["p"])
        for i in range(200):
            arena.write(values[i % 16])
            arena.read()
        write_s, _ = best_of(lambda: write(arena), 5, 2000)
        pair_s, _ = best_of(lambda: write(arena) + (arena.read() is None), 5, 2000)
        print(f"{name:>28} {write_s:13.2e} {pair_s:18.2e}")


if __name__ == "__main__":
    main()

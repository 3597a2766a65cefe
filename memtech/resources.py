"""Bounds on the work and the memory a run asks for, checked before anything is allocated.

A typo such as ``trainer.epochs=1000000000`` or ``trainer.hidden=[100000,100000]`` must be a clear error at
once, not hours of training or an out-of-memory kill minutes later.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from memtech.errors import MemtechError

# 1e9 steps is ~10^4 times the largest preset (CIFAR-10 VGG, 100 epochs: 1.6e5 steps) and days of training
# at the fastest step measured (~0.1 ms, the digits MLP): beyond it a value is a typo, not an experiment.
MAX_ITERATIONS = 10**9

BYTES_PER_VALUE = 4  # float32, the format every tensor is computed in
# Each stored value lives in the memory's buffer and, while a step runs, as the values read back, their
# gradient and a working copy: four float32 copies (an estimate; CNN im2col buffers come on top).
COPIES_PER_STORED_VALUE = 4


class ResourceError(MemtechError):
    """A run needs more work or memory than memtech allows or the machine has."""


def check_iterations(epochs: int, batches_per_epoch: int, batch_size: int, n_train: int) -> int:
    """The run's number of training steps; an error naming trainer.epochs when it exceeds MAX_ITERATIONS."""
    iterations = epochs * batches_per_epoch
    if iterations > MAX_ITERATIONS:
        raise ResourceError(
            f"trainer.epochs must give at most {MAX_ITERATIONS:.0e} training steps, got {epochs} epochs x "
            f"{batches_per_epoch} batches ({n_train} training samples / trainer.batch_size {batch_size}) = "
            f"{iterations:.2e} steps"
        )
    return iterations


def run_bytes(role_sizes: Mapping[str, int], replicas: int) -> int:
    """Estimated bytes a run's tensors take while it trains (all replicas)."""
    return sum(role_sizes.values()) * replicas * BYTES_PER_VALUE * COPIES_PER_STORED_VALUE


def available_bytes(xp: Any) -> int | None:
    """Memory free for a new run: the GPU's free memory under CuPy, else the host's MemAvailable (Linux) or
    its physical memory; None where neither can be read."""
    if getattr(xp, "__name__", "") == "cupy":
        free, _total = xp.cuda.runtime.memGetInfo()
        return int(free)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(role_sizes: Mapping[str, int], replicas: int, xp: Any) -> None:
    """An error before allocating when the run's tensors clearly do not fit in the memory available."""
    needed = run_bytes(role_sizes, replicas)
    available = available_bytes(xp)
    if available is None or needed <= available:
        return
    sizes = ", ".join(f"{role} {n:,}" for role, n in role_sizes.items() if n)
    where = "GPU" if getattr(xp, "__name__", "") == "cupy" else "machine"
    raise ResourceError(
        f"the network must fit in memory: {replicas} replica(s) x ({sizes} values) x {BYTES_PER_VALUE} bytes x "
        f"{COPIES_PER_STORED_VALUE} working copies = {needed / 2**30:.1f} GiB, more than the "
        f"{available / 2**30:.1f} GiB this {where} has available; make trainer.hidden or trainer.layers "
        "smaller, or trainer.batch_size (activations), or batch fewer replicas (hydra.launcher.max_replicas)"
    )

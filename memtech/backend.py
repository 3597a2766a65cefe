"""Array backends. CuPy is looked up only when asked for, never imported eagerly.

The array module (``xp``) is passed explicitly; there is no process-global backend switch (sweep workers
are reused between jobs, so a global would leak from one job into the next).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from memtech.errors import ConfigError

DEVICES = ("cpu", "gpu", "auto")


def gpu_problem() -> str | None:
    """Why CuPy cannot run here (not installed, no driver, no device), or None when it can."""
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed (pip install memtech[gpu])"
    except Exception as exc:  # noqa: BLE001 - a broken CuPy install raises anything at import
        return f"CuPy is installed but fails to import ({type(exc).__name__}: {exc})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - no driver, no device, a mismatched CUDA toolkit
        return f"CuPy is installed but CUDA finds no GPU ({type(exc).__name__}: {exc})"
    return None if count > 0 else "CuPy is installed but CUDA reports 0 GPUs"


def gpu_available() -> bool:
    return gpu_problem() is None


def check_device(device: Any) -> None:
    """A ConfigError naming ``device`` when it is not one of DEVICES, or is gpu where no GPU can be used."""
    if device not in DEVICES:
        raise ConfigError("device", device, "one of " + ", ".join(DEVICES))
    if device == "gpu":
        problem = gpu_problem()
        if problem is not None:
            raise ConfigError("device", device, f"'cpu' or 'auto' on this machine: {problem}")


def array_module(device: str = "cpu") -> Any:
    """NumPy for ``cpu``; CuPy for ``gpu`` (an error if unavailable); ``auto`` picks CuPy when it works."""
    check_device(device)
    if device == "cpu" or (device == "auto" and not gpu_available()):
        return np
    import cupy

    return cupy


def to_numpy(array: Any) -> np.ndarray:
    return array.get() if hasattr(array, "get") else np.asarray(array)

"""Array backends. CuPy is looked up only when asked for, never imported eagerly.

The array module (``xp``) is passed explicitly; there is no process-global backend switch (sweep workers
are reused between jobs, so a global would leak from one job into the next).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from memtech.errors import ConfigError

DEVICES = ("cpu", "gpu", "auto")


def gpu_available() -> bool:
    try:
        import cupy  # noqa: F401

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - no CuPy, no driver or no device: all mean "no GPU"
        return False


def array_module(device: str = "cpu") -> Any:
    """NumPy for ``cpu``; CuPy for ``gpu`` (an error if unavailable); ``auto`` picks CuPy when it works."""
    if device not in DEVICES:
        raise ConfigError("device", device, "one of " + ", ".join(DEVICES))
    if device == "cpu" or (device == "auto" and not gpu_available()):
        return np
    if not gpu_available():
        raise ConfigError("device", device, "'cpu' or 'auto' on a machine without CuPy and a CUDA GPU (pip install memtech[gpu])")
    import cupy

    return cupy


def to_numpy(array: Any) -> np.ndarray:
    return array.get() if hasattr(array, "get") else np.asarray(array)

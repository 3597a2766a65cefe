"""Shared fixtures: a plugin registry without third-party entry points, and small run configurations."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from memtech.plugins import load_plugins
from memtech.storage import ROLES


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``@pytest.mark.gpu`` tests where CuPy or a CUDA device is missing."""
    from memtech.backend import gpu_available

    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def activated_environment(monkeypatch):
    """Tests run as a user who activated the environment: its commands on PATH, so that hints name them bare
    (tests of the hints themselves set PATH as they need)."""
    import os
    import sys
    from pathlib import Path

    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.fixture(scope="session")
def registry():
    """Built-in plugins only: tests must not depend on whatever else is installed."""
    return load_plugins(entry_points=False)


def placement(memory: str, **overrides: str) -> dict[str, str]:
    return {**{role: memory for role in ROLES}, **overrides}


def digits_config(schedule: Any = "all_sram", *, mram: dict | None = None, sram: dict | None = None,
                  seed: int = 0, **trainer: Any) -> dict[str, Any]:
    """A digits MLP run with memories ``sram`` and ``mram``; ``schedule`` is a built-in name or a mapping."""
    if isinstance(schedule, str):
        schedule = {"name": schedule}
    return {
        "seed": seed,
        "memories": {"sram": {"technology": "sram", **(sram or {})}, "mram": {"technology": "stt_mram", **(mram or {})}},
        "schedule": schedule,
        "trainer": {"name": "mlp", **trainer},
        "dataset": {"name": "digits"},
    }


@pytest.fixture
def quiet_overflow():
    """Runs that are meant to break overflow float32 on purpose; the warnings are expected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield

"""The public API: ``memtech.__all__`` is exactly what the package exports, and each name is documented."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import types

import memtech


def test_all_is_exactly_the_exported_api():
    exported = {
        name for name, value in vars(memtech).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(memtech.__all__) == exported | {"__version__"}
    assert memtech.__all__ == sorted(memtech.__all__, key=lambda n: (n.startswith("_") or n.islower(), n))
    assert len(memtech.__all__) == len(set(memtech.__all__))


def test_every_exported_name_is_documented():
    for name in memtech.__all__:
        if name == "__version__":
            continue
        assert (getattr(memtech, name).__doc__ or "").strip(), f"memtech.{name} has no docstring"


def test_version_matches_the_distribution():
    assert memtech.__version__ == importlib.metadata.version("memtech")


def test_errors_share_one_base():
    for error in (memtech.ConfigError, memtech.PluginError, memtech.CapacityError):
        assert issubclass(error, memtech.MemtechError)
    error = memtech.ConfigError("memories.mram.ber", 1.5, "a number in [0, 1]")
    assert str(error) == "memories.mram.ber must be a number in [0, 1], got 1.5"
    assert (error.key, error.value, error.expected) == ("memories.mram.ber", 1.5, "a number in [0, 1]")
    assert isinstance(error, ValueError)


def test_importing_memtech_does_not_import_cupy_or_the_tracking_stack():
    code = "import sys, memtech; print(sorted(m for m in ('cupy', 'mlflow', 'hydra', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

"""The sample plugin package (plugins/example-package): its entry point makes memtech load it, it keeps the
memory-plugin contract, its own tests pass, and it builds as a wheel that carries the entry point."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from memtech.plugins import ENTRY_POINT_GROUP, load_plugins
from memtech.testing import check_memory_plugin

PACKAGE = Path(__file__).resolve().parent.parent / "plugins" / "example-package"


@pytest.fixture
def package_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(PACKAGE / "src"))
    yield
    sys.modules.pop("memtech_pcm", None)


def test_its_entry_point_is_loaded_as_a_plugin_that_keeps_the_contract(package_on_path):
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())
    declared = project["project"]["entry-points"][ENTRY_POINT_GROUP]
    entry_points = [importlib.metadata.EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in declared.items()]
    registry = load_plugins(entry_points=entry_points, strict=True)
    pcm = registry.memory("pcm")
    assert pcm.__module__ == "memtech_pcm"
    check_memory_plugin(pcm)


def test_its_own_tests_pass():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PACKAGE / "src"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PACKAGE)],
                          capture_output=True, text=True, env=env, cwd=PACKAGE, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout


@pytest.mark.slow
def test_it_builds_a_wheel_that_carries_its_entry_point(tmp_path):
    source = tmp_path / "source"  # a copy: the build leaves build/ and *.egg-info where it runs
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
               "-w", str(tmp_path), str(source)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("memtech_pcm-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        entry_points = next(archive.read(n).decode() for n in archive.namelist() if n.endswith("entry_points.txt"))
        assert "memtech_pcm/__init__.py" in archive.namelist()
    assert "[memtech]\npcm = memtech_pcm" in entry_points

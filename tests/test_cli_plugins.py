"""``memtech plugins``: every plugin with its kind, where it comes from and its version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from memtech import cli


def test_table_lists_builtins(capsys):
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["KIND", "NAME", "SOURCE", "VERSION", "PLUGIN"]
    rows = {tuple(line.split()[:4]) for line in out[1:]}
    for kind, name in [("memory", "sram"), ("memory", "stt_mram"), ("memory", "dram"), ("memory", "reram"),
                       ("trainer", "mlp"), ("dataset", "digits"), ("dataset", "synthetic")]:
        assert (kind, name, "built-in", "0.1.0") in rows


def test_plugins_dir_and_a_broken_plugin(tmp_path, capsys):
    (tmp_path / "good.py").write_text(textwrap.dedent("""
        import memtech

        class Lab(memtech.Dataset):
            name = "lab"

        @memtech.hookimpl
        def memtech_register_datasets(register):
            register(Lab)
    """))
    (tmp_path / "broken.py").write_text("raise ImportError('needs a missing library')\n")
    assert cli.main(["plugins", "--json", "--plugins-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert {"kind": "dataset", "name": "lab", "source": f"dir:{tmp_path}", "version": "local", "plugin": "good"} in rows
    assert f'Error loading plugin "broken" (dir:{tmp_path}): ImportError: needs a missing library' in captured.err


def test_third_party_distributions_show_name_and_version_and_a_broken_one_is_named(tmp_path):
    """Real (tiny) installed distributions: dist-info folders with entry points in the ``memtech`` group."""
    (tmp_path / "memtech_acme.py").write_text(textwrap.dedent("""
        import memtech
        from memtech import ErrorModel, MemoryTechnology

        class Acme(MemoryTechnology):
            name = "acme_mram"

            def error_model(self):
                return ErrorModel.uniform_write(1e-6)

        @memtech.hookimpl
        def memtech_register_memories(register):
            register(Acme)
    """))
    dist_info = tmp_path / "memtech_acme-2.3.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: memtech-acme\nVersion: 2.3.1\n")
    (dist_info / "entry_points.txt").write_text("[memtech]\nacme = memtech_acme\n")
    (tmp_path / "memtech_broken.py").write_text("import not_installed_anywhere\n")
    broken_info = tmp_path / "memtech_broken-0.2.dist-info"
    broken_info.mkdir()
    (broken_info / "METADATA").write_text("Metadata-Version: 2.1\nName: memtech-broken\nVersion: 0.2\n")
    (broken_info / "entry_points.txt").write_text("[memtech]\nbroken = memtech_broken\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "memtech.cli", "plugins", "--json"],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 1, proc.stderr  # a broken plugin is reported, and the listing still printed
    assert ('Error loading plugin "broken" (memtech-broken): '
            "ModuleNotFoundError: No module named 'not_installed_anywhere'") in proc.stderr
    rows = json.loads(proc.stdout)
    assert {"kind": "memory", "name": "acme_mram", "source": "memtech-acme", "version": "2.3.1", "plugin": "acme"} in rows
    assert any(row["name"] == "sram" and row["source"] == "built-in" for row in rows)

"""The README's commands cannot rot: every ``memtech-run`` line of its shell blocks composes and passes the
checks its job would run (sweeps: their first job; a value only a cluster or a data file can give is left to
the job), every ``memtech describe`` line prints a card, and the default job's summary matches the README's."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.override_parser.overrides_parser import OverridesParser

import memtech.hydra_main
from memtech import cli, tracking

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _shell_lines() -> list[str]:
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.split(r"\s{2,}#|^#", line)[0].strip()
            if command:
                lines.append(command)
    return lines


RUN_LINES = [line for line in _shell_lines() if line.startswith("memtech-run")]
DESCRIBE_LINES = [line for line in _shell_lines() if " memtech describe " in f" {line} "]
NEEDS_MORE = ("device=gpu", "dataset.path=/data/", "submitit_slurm")  # a GPU, a user's file, a cluster


def _first_job(arguments: list[str]) -> list[str]:
    """The overrides of a command line's first job: options dropped, each sweep at its first value."""
    overrides, options_with_a_value = [], ("--cfg", "-c", "--config-dir", "-cd", "--config-name", "-cn")
    for previous, argument in zip([None, *arguments], arguments):
        if not argument.startswith("-") and previous not in options_with_a_value:
            overrides.append(argument)
    parsed = OverridesParser.create().parse_overrides(overrides)
    first = []
    for override, text in zip(parsed, overrides):
        if override.is_sweep_override():
            value = next(iter(override.sweep_string_iterator()))
            first.append(f"{text.split('=', 1)[0]}={value}")
        else:
            first.append(text)
    return first


@pytest.fixture(scope="module")
def readme_plugins(tmp_path_factory):
    code = re.search(r"`myplugins/pcm\.py`:\n\n```python\n(.*?)```", README, re.S).group(1)
    folder = tmp_path_factory.mktemp("readme") / "myplugins"
    folder.mkdir()
    (folder / "pcm.py").write_text(code)
    memtech.hydra_main.register_plugin_options([str(folder)])
    yield folder
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().repo["memory"].pop("pcm.yaml", None)  # later tests see only what is installed


def test_the_readme_has_commands_to_check():
    assert len(RUN_LINES) >= 15 and DESCRIBE_LINES


@pytest.mark.parametrize("line", RUN_LINES)
def test_each_memtech_run_line_composes_and_its_first_job_passes_its_checks(line, readme_plugins):
    arguments = shlex.split(line.replace("$PWD/myplugins", str(readme_plugins)))[1:]
    overrides = _first_job(arguments)
    with initialize_config_module("memtech_conf", version_base="1.3"):
        cfg = compose("config", overrides=[o for o in overrides if not o.startswith("hydra")])
    if any(marker in line for marker in NEEDS_MORE):
        return  # composed; the rest needs what the command's own context gives
    memtech.hydra_main.validate_job_config(cfg)


@pytest.mark.parametrize("line", DESCRIBE_LINES)
def test_each_memtech_describe_line_prints_a_card(line, readme_plugins, monkeypatch, capsys):
    words = shlex.split(line.replace("$PWD/myplugins", str(readme_plugins)))
    while re.match(r"^[A-Z_]+=", words[0]):  # VAR=value before the command: its environment
        monkeypatch.setenv(*words.pop(0).split("=", 1))
        from memtech import plugins

        monkeypatch.setattr(plugins, "_default_registry", None)  # loaded again, with what it names
    arguments = words[words.index("describe") + 1:]
    assert cli.main(["describe", *arguments]) == 0
    assert "read_energy_pj_per_bit" in capsys.readouterr().out


@pytest.mark.slow
def test_the_default_jobs_summary_is_the_readmes(tmp_path):
    shown = re.search(r"\n```\n(memtech run 'mram_then_sram'.*?)\n```", README, re.S).group(1).splitlines()
    env = dict(os.environ, **{tracking.RUNS_DIR_ENV: str(tmp_path)})
    env.pop("MLFLOW_TRACKING_URI", None)
    run = [str(Path(sys.executable).parent / "memtech-run")]
    baseline = subprocess.run([*run, "experiment=sram_baseline"], capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=300)
    assert baseline.returncode == 0, baseline.stderr[-2000:]
    done = subprocess.run(run, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = done.stdout.splitlines()
    # the figures and the table, line for line; the run id and the folders differ from run to run
    assert printed[:len(shown) - 2] == shown[:-2], "\n".join(printed)


def test_the_readmes_transcripts_are_what_the_commands_print_now():
    done = subprocess.run([sys.executable, str(ROOT / ".ci" / "readme_outputs.py"), "--check", "--transcripts-only"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"`make readme` rewrites them:\n{done.stdout}{done.stderr[-2000:]}"


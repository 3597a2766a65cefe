"""Regenerate the outputs the README shows, from the current code (``make readme``; ``--check`` only reports).

Two kinds of block are regenerated, each marked by an HTML comment on the line before its fence:

* ``<!-- output of: CMD1 && CMD2 -->``: the commands run one after another in a fresh runs folder, and the
  block becomes what the last one printed (stdout, then stderr); ``; from: TEXT; through: TEXT; rows: 6+3``
  after the commands keep an excerpt of a long table (see :func:`excerpt`);
* ``<!-- transcript -->``: a block of ``$ command`` lines, each followed by what that command printed
  (``<!-- transcript after: CMD && CMD -->`` runs those commands first, unshown).

Commands run in a temporary folder (``MEMTECH_RUNS_DIR``), so the project's own store is never touched; that
folder's path is shown as ``/path/to/memtech/runs``, timestamped output folders as ``.../`` and run ids, full or in their 8-digit short
form, as ``<run id>`` (they differ on every run). Unmarked blocks (measured figures) are written by hand with
the date they were measured.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
MARK = re.compile(r"^(?P<indent> *)<!-- (output of: (?P<commands>.+?)|transcript(?: after: (?P<setup>.+?))?) -->\n"
                  r"(?P=indent)```\n(?P<body>.*?)(?P=indent)```$", re.S | re.M)
SHOWN_RUNS = "/path/to/memtech/runs"


def run(command: str, runs: Path) -> str:
    """What ``command`` prints (stdout, then stderr), as the README shows it."""
    words = shlex.split(command)
    env = dict(os.environ, MEMTECH_RUNS_DIR=str(runs), PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    for unset in ("MLFLOW_TRACKING_URI", "MEMTECH_DATA_DIR", "MEMTECH_PLUGINS_DIR"):  # the README assumes none
        env.pop(unset, None)
    while words and re.match(r"^[A-Z_]+=", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    done = subprocess.run(words, capture_output=True, text=True, env=env, cwd=runs, timeout=1800)
    text = done.stdout + done.stderr
    text = text.replace(str(runs), SHOWN_RUNS)
    text = re.sub(r"\b[0-9a-f]{32}\b", "<run id>", text)  # new on every run
    text = re.sub(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{8}\b", "<run id>", text)  # short forms: as wide
    # ... and a short id of digits alone where it can only be one: in a table's comma-separated list of runs
    text = re.sub(r"(?<![\w.])[0-9]{8}(?=,(?:<run id>|[0-9a-f]{8}|\.\.\.))|(?<=<run id>,)[0-9]{8}\b", "<run id>", text)
    return re.sub(rf"{re.escape(SHOWN_RUNS)}/(hydra|multirun)/\S+", rf"{SHOWN_RUNS}/\1/...", text)


def excerpt(text: str, options: dict[str, str]) -> str:
    """Cut a long output as the README shows it: ``from`` / ``through`` (the first lines holding these texts),
    ``rows: 6+3`` (of the table between the header line after ``from`` and the legend, the first 6 and the
    last 3, with a line saying how many were left out)."""
    lines = text.splitlines()
    if "from" in options:
        lines = lines[next(i for i, line in enumerate(lines) if options["from"] in line):]
    if "through" in options:
        lines = lines[: next(i for i, line in enumerate(lines) if options["through"] in line) + 1]
    if "rows" in options:
        first, last = (int(n) for n in options["rows"].split("+"))
        head, body, tail = lines[:2], lines[2:-1], lines[-1:]
        if len(body) > first + last:
            body = [*body[:first], f"  ... ({len(body) - first - last} more points)", *body[-last:]]
        lines = [*head, *body, *tail]
    return "\n".join(lines) + "\n"


def regenerate(block: re.Match) -> str:
    indent = block.group("indent")
    with tempfile.TemporaryDirectory(prefix="memtech-readme-") as tmp:
        runs = Path(tmp)
        for command in (block.group("setup") or "").split("&&"):
            if command.strip():
                run(command.strip(), runs)
        if block.group("commands"):
            commands, *settings = block.group("commands").split(";")
            options = dict(item.split(":", 1) for item in settings)
            *before, last = [c.strip() for c in commands.split("&&")]
            for command in before:
                run(command, runs)
            body = excerpt(run(last, runs), {k.strip(): v.strip() for k, v in options.items()})
        else:
            commands = [line.strip()[2:] for line in block.group("body").splitlines() if line.strip().startswith("$ ")]
            body = "".join(f"$ {command}\n{run(command, runs)}" for command in commands)
    head = block.group(0)[: block.group(0).index("```\n") + 4]
    lines = "".join(f"{indent}{line}\n" if line else "\n" for line in body.rstrip().splitlines())
    return f"{head}{lines}{indent}```"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report the blocks that differ; change nothing")
    parser.add_argument("--transcripts-only", action="store_true", help="only the $-command blocks (seconds each)")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    stale = []

    def replace(block: re.Match) -> str:
        if args.transcripts_only and (block.group("commands") or block.group("setup")):
            return block.group(0)
        new = regenerate(block)
        if new != block.group(0):
            stale.append(block.group(2))
        return new

    updated = MARK.sub(replace, text)
    for what in stale:
        print(f"{'differs' if args.check else 'rewritten'}: {what}")
    if not args.check and stale:
        README.write_text(updated, encoding="utf-8")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())

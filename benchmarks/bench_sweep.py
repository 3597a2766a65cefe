"""A whole sweep through ``memtech-run``: the batched launcher against the joblib launcher, same jobs.

    .venv/bin/python benchmarks/bench_sweep.py                 # the patent grid x 5 seeds: 150 jobs per launcher
    .venv/bin/python benchmarks/bench_sweep.py --seeds 1       # 30 jobs

Each launcher runs the same sweep (``experiment=patent_grid seed=range(N)``, all cores) into its own fresh
MLflow store and sweep folder, as a user would run it: Hydra composition, up-front validation, the parent run,
every job recorded as an MLflow child run, the end-of-sweep table. Reported: wall time, wall time per job, the
whole machine's time per job (wall x cores / jobs: start-up, composition, training, logging, all of it), and
the ratio. Then every job's metrics (result.json in its output folder) are compared between the launchers:
the batched launcher must change the cost of a sweep, never a result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
LAUNCHERS = {"batched": ["hydra/launcher=batched"], "joblib": ["hydra/launcher=joblib_all_cores"]}


def run_sweep(launcher: str, seeds: int, extra: list[str], workdir: Path) -> tuple[float, dict[str, dict]]:
    """Wall time of the sweep and {job overrides: metrics} read back from its output folders."""
    sweep_dir = workdir / launcher
    command = [str(Path(sys.executable).parent / "memtech-run"), "-m", "experiment=patent_grid",
               f"seed=range({seeds})", *LAUNCHERS[launcher], f"tracking.uri=sqlite:///{workdir}/{launcher}.db",
               f"hydra.sweep.dir={sweep_dir}", *extra]
    env = {**os.environ, "MEMTECH_RUNS_DIR": str(workdir / "runs")}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{launcher} sweep failed ({done.returncode}):\n{done.stderr[-3000:]}")
    results = {}
    for folder in sweep_dir.iterdir():
        if (folder / "result.json").is_file():
            overrides = yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
            key = " ".join(sorted(o for o in overrides if not o.startswith(("tracking.", "hydra."))))
            results[key] = json.loads((folder / "result.json").read_text())["metrics"]
    return wall, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per grid point (the grid has 30 points)")
    parser.add_argument("--extra", nargs="*", default=[], help="more overrides for both sweeps, e.g. trainer.epochs=5")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    timings, results = {}, {}
    with tempfile.TemporaryDirectory(prefix="memtech-bench-sweep-") as tmp:
        for launcher in LAUNCHERS:
            print(f"running the {30 * args.seeds}-job sweep with the {launcher} launcher ...", flush=True)
            timings[launcher], results[launcher] = run_sweep(launcher, args.seeds, args.extra, Path(tmp))
    jobs = len(results["joblib"])
    print(f"\npatent grid x {args.seeds} seeds = {jobs} jobs, {cores} cores")
    print(f"{'launcher':10} {'wall s':>8} {'wall s/job':>11} {'core-s/job':>11}")
    for launcher, wall in timings.items():
        print(f"{launcher:10} {wall:8.1f} {wall / jobs:11.3f} {wall * cores / jobs:11.3f}")
    print(f"ratio joblib / batched wall time: {timings['joblib'] / timings['batched']:.2f}x (target >= 4x)")
    same = results["batched"].keys() == results["joblib"].keys()
    differing = [key for key in results["joblib"] if results["batched"].get(key) != results["joblib"][key]]
    print(f"results identical: {'yes' if same and not differing else 'NO'} "
          f"({jobs - len(differing)} of {jobs} jobs with every metric equal)")
    for key in differing[:5]:
        print(f"  differs: {key}")
    return 0 if same and not differing else 1


if __name__ == "__main__":
    sys.exit(main())

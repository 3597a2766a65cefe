"""Sweeps that lose processes, for real: a sweep worker killed with SIGKILL (as the OOM killer would) fails
only its own job; ``kill -9`` of the sweep's main process leaves no worker behind and no run RUNNING once the
store is opened again; ``resume=true`` then runs only what did not finish; two sweeps started together on one
fresh store both finish; a corrupt store is refused and left as it was.

Every test runs ``memtech-run`` and ``memtech`` as a user would, in subprocesses, on a temporary store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memtech import tracking
from memtech.liveness import PID_TAG

BIN = Path(sys.executable).parent
# each worker has its own batch: one job per batch, two at a time
BATCHED = ("hydra/launcher=batched", "hydra.launcher.n_jobs=2", "hydra.launcher.max_replicas=1")
NEVER_ENDS = "100000"  # epochs of a job that is killed long before it could finish (about 10 minutes)

pytestmark = pytest.mark.slow


def _environment(runs: Path) -> dict[str, str]:
    env = dict(os.environ, **{tracking.RUNS_DIR_ENV: str(runs), "PYTHONUNBUFFERED": "1"})
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop(tracking.PARENT_RUN_ENV, None)
    return env


def _start(runs: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "memtech-run"), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=_environment(runs), cwd=runs)


def _run(runs: Path, program: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / program), *args], capture_output=True, text=True, env=_environment(runs),
                          cwd=runs, timeout=timeout)


def _store_runs(runs: Path) -> list:
    client = tracking.client(f"sqlite:///{runs}/mlflow.db")
    experiment = client.get_experiment_by_name("memtech")
    return client.search_runs([experiment.experiment_id], max_results=1000) if experiment else []


def _children(runs: Path) -> list:
    return [r for r in _store_runs(runs) if r.data.tags.get(tracking.PARENT_ID_TAG)]


def _parents(runs: Path) -> list:
    return [r for r in _store_runs(runs) if r.data.tags.get(tracking.PARENT_TAG) == "parent"]


def _wait_for(condition, process: subprocess.Popen, what: str, timeout_s: float = 180):
    """Poll ``condition()`` until it returns something truthy; fail if the sweep ends or time runs out first."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = condition()
        except Exception:  # noqa: BLE001 - the store may not exist yet, or be mid-write
            found = None
        if found:
            return found
        assert process.poll() is None, f"the sweep ended before {what}:\n{process.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead: only its parent's wait is missing
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_worker_killed_by_sigkill_fails_only_its_job_and_the_sweep_runs_the_rest(tmp_path):
    """Job 0 never ends by itself; its worker is killed while it trains. The jobs beside it and the ones still
    queued all finish, job 0 is FAILED naming SIGKILL, and the parent counts 4 finished and 1 failed. The other
    jobs take a few seconds each (300 epochs), so some are still queued when the kill comes."""
    process = _start(tmp_path, "-m", *BATCHED, f"trainer.epochs={NEVER_ENDS},300,301,302,303")
    try:
        victim = _wait_for(lambda: next((r for r in _children(tmp_path) if r.info.status == "RUNNING"
                                         and r.data.params.get("trainer.epochs") == NEVER_ENDS), None),
                           process, "job 0 started")
        time.sleep(1.0)  # in the middle of its training
        os.kill(int(victim.data.tags[PID_TAG]), signal.SIGKILL)
        killed_at_ms = time.time() * 1000
        output, _ = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode != 0, output[-3000:]  # a sweep with a failed job is no success
    assert f"job 0 FAILED: WorkerLost: its worker process {victim.data.tags[PID_TAG]} was killed by SIGKILL" in output
    assert "5 jobs (4 finished, 1 failed)" in output, output[-3000:]
    children = {r.data.params["trainer.epochs"]: r for r in _children(tmp_path)}
    assert sorted(children) == sorted([NEVER_ENDS, "300", "301", "302", "303"])
    assert children[NEVER_ENDS].info.status == "FAILED"
    assert "SIGKILL" in children[NEVER_ENDS].data.tags["memtech.error"]
    short = [children[e] for e in ("300", "301", "302", "303")]
    assert all(r.info.status == "FINISHED" and "test_accuracy" in r.data.metrics for r in short)
    assert any(r.info.start_time > killed_at_ms for r in short), "no queued job ran after the kill"
    (parent,) = _parents(tmp_path)
    assert parent.info.status == "FAILED"
    assert (parent.data.tags["memtech.finished_jobs"], parent.data.tags["memtech.failed_jobs"]) == ("4", "1")


def test_kill_9_of_the_sweep_leaves_no_worker_and_resume_runs_only_what_did_not_finish(tmp_path):
    sweep = ("-m", *BATCHED, "seed=0,1,2,3", "trainer.epochs=300", f"hydra.sweep.dir={tmp_path}/sweep")
    process = _start(tmp_path, *sweep)
    try:
        def some_finished_some_running():
            statuses = [r.info.status for r in _children(tmp_path)]
            return "FINISHED" in statuses and "RUNNING" in statuses

        _wait_for(some_finished_some_running, process, "one job finished while another trains")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
    running = [r for r in _store_runs(tmp_path) if r.info.status == "RUNNING"]
    workers = {int(r.data.tags[PID_TAG]) for r in running} - {process.pid}
    assert workers, "the workers' runs were RUNNING when the sweep was killed"
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "workers outlived the sweep's main process"

    listed = _run(tmp_path, "memtech", "close-stale", "--dry-run")
    assert listed.returncode == 0, listed.stderr
    assert f"{len(running)} run(s) whose process on this host is gone would be marked KILLED" in listed.stdout
    assert all(r.info.status == "RUNNING" for r in _store_runs(tmp_path) if r.info.run_id in
               {s.info.run_id for s in running}), "--dry-run changed the store"
    closed = _run(tmp_path, "memtech", "close-stale")
    assert f"{len(running)} run(s) whose process on this host is gone marked KILLED" in closed.stdout
    assert not [r for r in _store_runs(tmp_path) if r.info.status == "RUNNING"]
    assert all("ended without closing this run" in r.data.tags["memtech.error"]
               for r in _store_runs(tmp_path) if r.info.status == "KILLED")

    finished = {r.data.params["seed"] for r in _children(tmp_path) if r.info.status == "FINISHED"}
    (parent,) = _parents(tmp_path)
    resumed = _run(tmp_path, "memtech-run", *sweep, "resume=true")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"resuming the sweep of parent run {parent.info.run_id}" in resumed.stdout
    expected = f"4 jobs ({4 - len(finished)} finished, 0 failed, {len(finished)} skipped (already finished: resume=true))"
    assert expected in resumed.stdout, resumed.stdout[-3000:]
    assert _parents(tmp_path)[0].info.run_id == parent.info.run_id and len(_parents(tmp_path)) == 1
    assert _parents(tmp_path)[0].info.status == "FINISHED"
    done = [r for r in _children(tmp_path) if r.info.status == "FINISHED"]
    assert sorted(r.data.params["seed"] for r in done) == ["0", "1", "2", "3"]  # each seed finished exactly once
    assert all(r.data.tags[tracking.PARENT_ID_TAG] == parent.info.run_id for r in _children(tmp_path))


def test_two_8_job_sweeps_started_together_on_a_fresh_store_finish_16_of_16(tmp_path):
    sweeps = [_start(tmp_path, "-m", "seed=range(8)", "trainer.epochs=2", "dataset=synthetic",
                     "dataset.n_samples=300", "dataset.n_features=16", f"hydra.sweep.dir={tmp_path}/sweep{i}")
              for i in range(2)]
    outputs = [p.communicate(timeout=400)[0] for p in sweeps]
    for process, output in zip(sweeps, outputs):
        assert process.returncode == 0, output[-3000:]
        assert "8 jobs (8 finished, 0 failed)" in output, output[-3000:]
    children = _children(tmp_path)
    assert len(children) == 16 and all(r.info.status == "FINISHED" for r in children)
    assert len({r.data.tags[tracking.PARENT_ID_TAG] for r in children}) == 2


def test_a_corrupt_store_is_refused_by_every_command_and_left_as_it_was(tmp_path):
    store = tmp_path / "mlflow.db"
    store.write_bytes(b"this is not an SQLite database\n" * 100)
    before = store.read_bytes()
    for program, args in [("memtech-run", ("trainer.epochs=1",)), ("memtech-run", ("-m", "seed=0,1")),
                          ("memtech", ("compare", "sweep")), ("memtech", ("close-stale",))]:
        done = _run(tmp_path, program, *args)
        assert done.returncode != 0, (program, args, done.stdout)
        message = done.stdout + done.stderr
        assert "Traceback" not in message, message[-3000:]
        assert str(store) in message and "is not a readable SQLite database" in message, message[-3000:]
        assert store.read_bytes() == before, f"{program} {args} changed the store"

"""Which runs are stale: RUNNING, written on this host, by a process that is gone (exited, a zombie, or its pid
reused by a younger process); only those are closed, and each says why."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from memtech import liveness, tracking


def _exited_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_process_is_gone_when_it_exited_or_is_a_zombie_but_not_while_it_runs():
    assert liveness.process_gone(_exited_pid(), time.time())
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])  # never waited for: it stays a zombie
    try:
        deadline = time.monotonic() + 30
        while liveness._stat_fields(zombie.pid)[0] != "Z" and time.monotonic() < deadline:  # noqa: SLF001
            time.sleep(0.05)
        assert liveness.process_gone(zombie.pid, time.time())
    finally:
        zombie.wait()
    assert not liveness.process_gone(os.getpid(), time.time())


def test_a_pid_taken_by_a_process_younger_than_the_run_is_gone():
    started_s = liveness._start_time_s(liveness._stat_fields(os.getpid()))  # noqa: SLF001
    assert started_s is not None and abs(started_s - time.time()) < 24 * 3600 * 365
    assert not liveness.process_gone(os.getpid(), started_s)  # the run started when this process did
    assert liveness.process_gone(os.getpid(), started_s - 60)  # the run is a minute older than this process


def test_only_runs_of_this_host_whose_process_is_gone_are_closed_and_each_says_why(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    experiment_id = tracking.prepare_store(uri, "memtech")
    client = tracking.client(uri)
    host, dead = socket.gethostname(), str(_exited_pid())

    def run(tags: dict[str, str], finished: bool = False) -> str:
        run_id = client.create_run(experiment_id, tags=tags).info.run_id
        if finished:
            client.set_terminated(run_id, "FINISHED")
        return run_id

    stale = run({liveness.HOST_TAG: host, liveness.PID_TAG: dead})
    alive = run({liveness.HOST_TAG: host, liveness.PID_TAG: str(os.getppid())})
    elsewhere = run({liveness.HOST_TAG: host + "-elsewhere", liveness.PID_TAG: dead})
    finished = run({liveness.HOST_TAG: host, liveness.PID_TAG: dead}, finished=True)
    untagged = run({})
    assert [r.info.run_id for r in liveness.stale_runs(client, [experiment_id])] == [stale]
    assert [r.info.run_id for r in liveness.close_stale_runs(client, [experiment_id])] == [stale]
    status = {run_id: client.get_run(run_id).info.status for run_id in (stale, alive, elsewhere, finished, untagged)}
    assert status == {stale: "KILLED", alive: "RUNNING", elsewhere: "RUNNING", finished: "FINISHED", untagged: "RUNNING"}
    assert f"process {dead} on {host} ended without closing this run" in client.get_run(stale).data.tags["memtech.error"]
    assert liveness.close_stale_runs(client, [experiment_id]) == []  # closed once
    assert liveness.stale_runs(client, []) == []


def test_a_dead_workers_job_is_left_to_its_live_sweep_but_closed_once_the_sweep_is_gone(tmp_path):
    """A sibling worker opening the store must not race the sweep that records its lost job FAILED."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    experiment_id = tracking.prepare_store(uri, "memtech")
    client = tracking.client(uri)
    host, dead = socket.gethostname(), str(_exited_pid())
    live_parent = client.create_run(experiment_id, tags={liveness.HOST_TAG: host, liveness.PID_TAG: str(os.getppid())})
    dead_parent = client.create_run(experiment_id, tags={liveness.HOST_TAG: host, liveness.PID_TAG: dead})
    job_of_live = client.create_run(experiment_id, tags={liveness.HOST_TAG: host, liveness.PID_TAG: dead,
                                                         "mlflow.parentRunId": live_parent.info.run_id})
    job_of_dead = client.create_run(experiment_id, tags={liveness.HOST_TAG: host, liveness.PID_TAG: dead,
                                                         "mlflow.parentRunId": dead_parent.info.run_id})
    stale = {r.info.run_id for r in liveness.stale_runs(client, [experiment_id])}
    assert stale == {dead_parent.info.run_id, job_of_dead.info.run_id}
    assert job_of_live.info.run_id not in stale

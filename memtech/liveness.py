"""Runs whose process is gone: a run left RUNNING by a process that was killed (``kill -9``, the OOM killer,
a lost node) is marked KILLED the next time memtech opens its store, and by ``memtech close-stale``.

Every run records the host and the process that writes it (``memtech.host``, ``memtech.pid``). A run is
stale when it is RUNNING, was written on this host, and its process no longer exists, or exists but started
after the run did (the pid was reused), unless it is a job of a sweep whose parent run's process still runs:
that sweep closes it. Runs of other hosts are left alone: their processes cannot be seen.
"""

from __future__ import annotations

import os
import socket
from typing import Any

HOST_TAG = "memtech.host"
PID_TAG = "memtech.pid"


def process_tags() -> dict[str, str]:
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()  # the command name may hold spaces and brackets
    except (OSError, IndexError):
        return None


def _start_time_s(fields: list[str]) -> float | None:
    """When a process started (seconds since the epoch), from its stat fields; None where that cannot be read."""
    try:
        with open("/proc/stat") as system:
            boot_s = next(float(line.split()[1]) for line in system if line.startswith("btime"))
        return boot_s + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: start time in ticks
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def process_gone(pid: int, run_started_s: float) -> bool:
    """True when the process that started a run at ``run_started_s`` no longer runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, under another user
    fields = _stat_fields(pid)
    if fields is None:
        return False  # no /proc: the signal says it exists
    if fields[0] in ("Z", "X"):
        return True  # a zombie (where nothing reaps orphans, as in many containers) runs nothing any more
    started = _start_time_s(fields)
    # a process younger than the run is another process that got the same pid (2 s for clock granularity)
    return started is not None and started > run_started_s + 2.0


def stale_runs(mlflow_client: Any, experiment_ids: list[str]) -> list[Any]:
    """RUNNING runs of this host whose process is gone."""
    if not experiment_ids:
        return []
    host = socket.gethostname()
    running = mlflow_client.search_runs(experiment_ids, f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
                                        max_results=50000)
    def gone(run: Any) -> bool:
        pid = run.data.tags.get(PID_TAG, "")
        return pid.isdigit() and int(pid) != os.getpid() and process_gone(int(pid), run.info.start_time / 1000)

    by_id = {run.info.run_id: run for run in running}
    stale = []
    for run in running:
        if not gone(run):
            continue
        # A sweep job whose worker died while the sweep's own process lives is the sweep's to close (it
        # records the job FAILED, naming the signal): another worker opening the store must not race it.
        parent = by_id.get(run.data.tags.get("mlflow.parentRunId", ""))
        if parent is not None and not gone(parent):
            continue
        stale.append(run)
    return stale


def close_stale_runs(mlflow_client: Any, experiment_ids: list[str]) -> list[Any]:
    """Mark every stale run KILLED, saying why; returns them."""
    stale = stale_runs(mlflow_client, experiment_ids)
    for run in stale:
        pid = run.data.tags.get(PID_TAG)
        mlflow_client.set_tag(run.info.run_id, "memtech.error",
                              f"process {pid} on {run.data.tags.get(HOST_TAG)} ended without closing this run "
                              "(killed: kill -9, out of memory, a lost node)")
        mlflow_client.set_terminated(run.info.run_id, "KILLED")
    return stale

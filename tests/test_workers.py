"""memtech.workers: outcomes come back in task order; a task that raises gives a TaskFailed, one whose worker
dies gives a WorkerLost naming the signal or exit status, and neither stops the other tasks."""

from __future__ import annotations

import os
import signal

import pytest

from memtech.workers import TaskFailed, WorkerLost, run_tasks, worker_count


def _task(kind: str, value: int):
    if kind == "raise":
        raise ValueError(f"bad value {value}")
    if kind == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "exit":
        os._exit(value)
    return value * value, os.getpid()


def test_outcomes_come_back_in_task_order_from_several_workers():
    outcomes = run_tasks(_task, [("ok", n) for n in range(6)], workers=2)
    assert [square for square, _ in outcomes] == [n * n for n in range(6)]
    pids = {pid for _, pid in outcomes}
    assert len(pids) == 2 and os.getpid() not in pids  # two worker processes, reused


def test_a_lost_worker_or_a_raising_task_fails_only_its_own_task():
    lost = []
    outcomes = run_tasks(_task, [("ok", 1), ("sigkill", 0), ("ok", 2), ("raise", 3), ("exit", 3), ("ok", 4)],
                         workers=2, on_lost=lambda index, why: lost.append((index, why)) or f"lost {index}")
    assert [outcomes[i][0] for i in (0, 2, 5)] == [1, 4, 16]
    assert outcomes[1] == "lost 1" and outcomes[4] == "lost 4"
    assert outcomes[3] == TaskFailed("ValueError: bad value 3")
    lost = dict(lost)  # reported as each loss is seen, not in task order
    assert sorted(lost) == [1, 4]
    assert lost[1].reason.endswith("was killed by SIGKILL")
    assert lost[4].reason.endswith("exited with status 3 before finishing it")
    assert isinstance(lost[1], WorkerLost) and lost[1].pid > 0


def test_without_on_lost_the_outcome_is_the_worker_lost_itself():
    (outcome,) = run_tasks(_task, [("sigkill", 0)], workers=1)
    assert isinstance(outcome, WorkerLost) and outcome.exitcode == -signal.SIGKILL


@pytest.mark.parametrize("n_jobs, expected", [(1, 1), (3, 3), (-1, os.cpu_count() or 1),
                                              (-2, max(1, (os.cpu_count() or 1) - 1)), (-1000, 1)])
def test_worker_count_follows_joblibs_convention(n_jobs, expected):
    assert worker_count(n_jobs) == expected

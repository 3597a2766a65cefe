"""A pool of worker processes in which a worker that dies fails only its own task.

joblib's pools (loky) and ``concurrent.futures`` mark every pending task broken when one worker is killed
(the OOM killer, ``kill -9``), so one lost job would abort a whole sweep. Here each worker runs one task at a
time and the pool knows which: a worker that dies gives its task a :class:`WorkerLost` naming the signal, is
replaced, and the other tasks run to the end.

Workers never outlive the process that started them: on Linux the kernel kills them when it dies
(``PR_SET_PDEATHSIG``), elsewhere a watchdog thread notices the parent is gone within a second.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True)
class WorkerLost:
    """The worker running a task ended before returning: killed by a signal, or exited."""

    pid: int
    exitcode: int | None

    @property
    def reason(self) -> str:
        if self.exitcode is not None and self.exitcode < 0:
            try:
                name = signal.Signals(-self.exitcode).name
            except ValueError:
                name = f"signal {-self.exitcode}"
            return f"its worker process {self.pid} was killed by {name}"
        return f"its worker process {self.pid} exited with status {self.exitcode} before finishing it"


@dataclass(frozen=True)
class TaskFailed:
    """The task raised in its worker; ``error`` is the exception's type and message."""

    error: str


def _die_with_parent(parent_pid: int) -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) == 0 and os.getppid() == parent_pid:
            return
    except (OSError, AttributeError):
        pass

    def watch() -> None:  # no prctl (not Linux): poll
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _worker_main(connection: Any, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    import cloudpickle  # noqa: F401 - tasks arrive cloudpickled (closures, Hydra tasks)
    import pickle

    while True:
        try:
            message = connection.recv_bytes()
        except (EOFError, OSError):
            return
        if not message:
            return
        function, args = pickle.loads(message)
        try:
            outcome: Any = function(*args)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
            outcome = TaskFailed(f"{type(exc).__name__}: {exc}")
        connection.send_bytes(cloudpickle.dumps(outcome))


class _Worker:
    def __init__(self, context: Any):
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child_end, os.getpid()), daemon=True)
        self.process.start()
        child_end.close()
        self.task: int | None = None

    def ask_to_stop(self) -> None:
        try:
            self.connection.send_bytes(b"")
        except OSError:
            pass

    def wait_stopped(self, deadline: float) -> None:
        self.process.join(max(0.0, deadline - time.monotonic()))
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def run_tasks(function: Callable[..., Any], tasks: Sequence[tuple], workers: int,
              on_lost: Callable[[int, WorkerLost], Any] | None = None) -> list[Any]:
    """``function(*tasks[i])`` for every i, on up to ``workers`` processes; returns the outcomes in order. A task
    whose worker died gives ``on_lost(i, WorkerLost)`` (or the WorkerLost itself), one that raised a
    TaskFailed. Interrupted (Ctrl-C, SIGTERM), the workers are stopped and the interruption raised."""
    import cloudpickle

    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no state of this one leaks in
    outcomes: list[Any] = [None] * len(tasks)
    queue = list(range(len(tasks)))[::-1]
    pool: list[_Worker] = []
    try:
        while queue or any(w.task is not None for w in pool):
            while queue and (len(pool) < workers or any(w.task is None for w in pool)):
                worker = next((w for w in pool if w.task is None), None)
                if worker is None:
                    worker = _Worker(context)
                    pool.append(worker)
                worker.task = queue.pop()
                worker.connection.send_bytes(cloudpickle.dumps((function, tasks[worker.task])))
            busy = [w for w in pool if w.task is not None]
            ready = multiprocessing.connection.wait([w.connection for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                if worker.connection in ready or worker.process.sentinel in ready:
                    index, worker.task = worker.task, None
                    try:
                        outcomes[index] = cloudpickle.loads(worker.connection.recv_bytes())
                    except (EOFError, OSError):  # died before answering
                        worker.process.join()
                        lost = WorkerLost(worker.process.pid or 0, worker.process.exitcode)
                        outcomes[index] = on_lost(index, lost) if on_lost is not None else lost
                        pool.remove(worker)
    finally:
        for worker in pool:
            if worker.task is not None:  # interrupted: its task's records are closed by the caller
                worker.process.terminate()
            worker.ask_to_stop()
        deadline = time.monotonic() + 5.0  # all of them wind down at once (each takes its interpreter's exit)
        for worker in pool:
            worker.wait_stopped(deadline)
    return outcomes


def worker_count(n_jobs: int) -> int:
    """joblib's convention: n > 0 workers; -1 one per core, -2 all cores but one, and so on."""
    cores = os.cpu_count() or 1
    return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)

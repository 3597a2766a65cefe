"""Ctrl-C and SIGTERM that never cut a store write in half.

Python runs a signal handler between two bytecodes of the main thread, wherever it is. When that is inside
an MLflow write (a SQLite transaction begun, not yet committed), the exception the handler raises leaves a
connection holding the store's write lock, and the code that then marks the interrupted runs KILLED waits on
that lock and fails with "database is locked". So a signal that arrives during a store call is held, and
raised as soon as the call returns (:func:`signal_safe`); outside store calls it is raised at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator

_depth = 0  # store calls under way in the main thread (nested calls count once each)
_held: int | None = None  # a signal that arrived during a store call, raised when the call returns


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)  # the shell's convention for "ended by signal N"


def unwind_on_signal(signum: int, frame: Any) -> None:
    """Signal handler: unwind like Ctrl-C (KeyboardInterrupt, or SystemExit(128 + N) for SIGTERM), so open
    runs get closed, but never in the middle of a store call."""
    global _held
    if _depth > 0:
        _held = signum if _held is None else _held
        return
    _raise_for(signum)


@contextlib.contextmanager
def signal_safe() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends (in the main thread: only it runs signal handlers)."""
    global _depth, _held
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _held is not None:
            signum, _held = _held, None
            _raise_for(signum)


@contextlib.contextmanager
def unwinding_on_signals() -> Iterator[None]:
    """Install :func:`unwind_on_signal` for SIGINT and SIGTERM for the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, unwind_on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

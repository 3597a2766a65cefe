"""A signal never cuts a store call in half: it is held during the call and raised right after it."""

import os
import signal

import pytest

from memtech import interrupts, tracking


def _send(signum):
    os.kill(os.getpid(), signum)  # delivered to this (the main) thread before the next bytecode


@pytest.mark.parametrize("signum, raised", [(signal.SIGTERM, SystemExit), (signal.SIGINT, KeyboardInterrupt)])
def test_a_signal_during_a_store_call_is_raised_when_the_call_returns(signum, raised):
    finished = []
    with interrupts.unwinding_on_signals():
        with pytest.raises(raised) as caught:
            with interrupts.signal_safe():
                _send(signum)
                finished.append("the rest of the call ran")
        assert finished == ["the rest of the call ran"]
        with pytest.raises(raised):  # outside a store call it unwinds at once
            _send(signum)
    if raised is SystemExit:
        assert caught.value.code == 128 + signal.SIGTERM


def test_the_handlers_are_restored_after_the_block():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with interrupts.unwinding_on_signals():
        assert signal.getsignal(signal.SIGTERM) is interrupts.unwind_on_signal
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_every_call_on_the_tracking_client_holds_signals(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    experiment_id = tracking.prepare_store(uri, "memtech")
    client = tracking.client(uri)
    inner = client._inner
    order = []

    def create_run_then_signal(*args, **kwargs):
        run = type(inner).create_run(inner, *args, **kwargs)
        _send(signal.SIGTERM)  # arrives while MLflow is still inside the call
        order.append("call returned")
        return run

    monkeypatch.setattr(inner, "create_run", create_run_then_signal)
    with interrupts.unwinding_on_signals(), pytest.raises(SystemExit):
        client.create_run(experiment_id)
    assert order == ["call returned"]
    runs = client.search_runs([experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "RUNNING"  # the call completed: nothing torn

"""Tracking as a new user meets it: an unreachable server fails in seconds, a fresh store is quiet, and a
run id prefix names a run wherever a run id is accepted."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_tracking import TINY

from memtech import cli, tracking
from memtech.experiment import run_experiment

MEMTECH_RUN = str(Path(sys.executable).parent / "memtech-run")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") and k != tracking.PARENT_RUN_ENV}
    return {**env, **extra}


def test_http_defaults_fail_fast_and_yield_to_the_user():
    probe = ("import os, json, memtech.tracking as t; "
             "print(json.dumps({k: os.environ[k] for k in t.HTTP_DEFAULTS}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env=_clean_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="5"), timeout=60).stdout
    assert out.strip() == ('{"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", '
                           '"MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15"}')
    from mlflow import environment_variables as ev  # the names must be the ones MLflow reads

    for name in tracking.HTTP_DEFAULTS:
        assert getattr(ev, name).name == name


def test_an_unreachable_server_is_a_clean_error_in_seconds(tmp_path):
    with socket.socket() as closed:  # bound, never listening: connections are refused, and no one else gets it
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        done = subprocess.run([MEMTECH_RUN, "trainer.epochs=1", f"tracking.uri=http://127.0.0.1:{port}"],
                              capture_output=True, text=True, cwd=tmp_path, timeout=45,
                              env=_clean_env(**{tracking.RUNS_DIR_ENV: str(tmp_path / "runs")}))
    assert done.returncode != 0
    assert f"memtech-run: error: cannot record the run in the MLflow store http://127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_fresh_store_is_made_quietly(tmp_path):
    script = f"from memtech import tracking; tracking.prepare_store('sqlite:///{tmp_path}/mlflow.db', 'memtech')"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_clean_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mlflow.db").is_file()
    assert "Creating initial MLflow database tables" not in done.stderr and "alembic" not in done.stderr
    assert " INFO " not in done.stderr, done.stderr


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """One tiny run with its model in a fresh store, and data to score."""
    folder = tmp_path_factory.mktemp("logged")
    uri = f"sqlite:///{folder}/mlflow.db"
    run = tracking.MlflowRun(uri, "memtech", "tiny", {})
    result = run_experiment(TINY)
    run.finish(result, None)
    x = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    np.savez(folder / "new.npz", x=x)
    return uri, run.run_id, folder


def test_predict_takes_a_run_id_prefix(logged, capsys):
    uri, run_id, folder = logged
    assert cli.main(["predict", run_id[:8], str(folder / "new.npz"), "--tracking-uri", uri]) == 0
    by_prefix = capsys.readouterr().out.split()
    assert cli.main(["predict", run_id, str(folder / "new.npz"), "--tracking-uri", uri]) == 0
    assert capsys.readouterr().out.split() == by_prefix and len(by_prefix) == 6


def test_resolve_run_id_names_what_it_could_not_find(logged, tmp_path):
    uri, run_id, _ = logged
    assert tracking.resolve_run_id(uri, run_id[:6]) == run_id
    assert tracking.resolve_run_id(uri, run_id) == run_id
    missing = "0123456789abcdef" if not run_id.startswith("0123456789abcdef") else "fedcba9876543210"
    with pytest.raises(tracking.ConfigError, match=f"model must be the id \\(or a unique prefix\\) of a run in .*got '{missing}'"):
        tracking.resolve_run_id(uri, missing, key="model")
    with pytest.raises(tracking.ConfigError, match="run must be a run id of 32 hex digits or a prefix of at least 6"):
        tracking.resolve_run_id(uri, run_id[:5])
    nowhere = f"sqlite:///{tmp_path}/none.db"
    with pytest.raises(tracking.ConfigError, match="holds no store yet"):
        tracking.resolve_run_id(nowhere, run_id)
    assert not (tmp_path / "none.db").exists()

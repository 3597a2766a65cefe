"""Two sweeps in one process each keep their own parent run and job records; a failing store never hides
a job's own error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from memtech import tracking


@pytest.mark.slow
def test_two_sweeps_in_one_process_into_the_same_sweep_dir(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    script = textwrap.dedent(f"""
        import sys
        sys.argv = ["memtech-run", "-m", "trainer.epochs=1", "trainer.hidden=[8]", "seed=0,1",
                    "hydra.launcher.n_jobs=2", "tracking.uri={uri}", "hydra.sweep.dir={tmp_path}/fixed"]
        from memtech.hydra_main import _hydra_entry
        for _ in range(2):
            _hydra_entry()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={"MEMTECH_RUNS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("2 jobs recorded under parent run") == 2, done.stdout[-2000:]
    client = tracking.client(uri)
    runs = client.search_runs([client.get_experiment_by_name("memtech").experiment_id])
    children = Counter(r.data.tags.get("mlflow.parentRunId") for r in runs if r.data.tags.get("mlflow.parentRunId"))
    assert sorted(children.values()) == [2, 2], children


def test_fail_never_raises_and_still_tries_to_mark_the_run(monkeypatch):
    calls = []

    class LockedClient:
        def set_tag(self, *args):
            calls.append("set_tag")
            raise RuntimeError("database is locked")

        def log_text(self, *args):
            calls.append("log_text")
            raise RuntimeError("database is locked")

        def set_terminated(self, run_id, status):
            calls.append(status)

    run = object.__new__(tracking.MlflowRun)
    run.client, run.run_id = LockedClient(), "abc"
    monkeypatch.setattr(run, "flush", lambda: (_ for _ in ()).throw(RuntimeError("locked")), raising=False)
    run.fail(ValueError("the job's own error"))
    assert calls == ["set_tag", "log_text", "FAILED"]

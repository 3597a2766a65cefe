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
    assert done.stdout.count("2 jobs (2 finished, 0 failed) recorded under parent run") == 2, done.stdout[-2000:]
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


def test_an_interrupted_job_run_is_marked_killed(monkeypatch):
    statuses = []

    class Client:
        def set_tag(self, *args):
            pass

        def log_text(self, *args):
            pass

        def set_terminated(self, run_id, status):
            statuses.append(status)

    run = object.__new__(tracking.MlflowRun)
    run.client, run.run_id = Client(), "abc"
    monkeypatch.setattr(run, "flush", lambda: None, raising=False)
    run.fail(KeyboardInterrupt())
    run.fail(SystemExit(143))
    run.fail(ValueError("a real failure"))
    assert statuses == ["KILLED", "KILLED", "FAILED"]


def test_end_interrupted_sweep_closes_the_parent_and_its_running_jobs(tmp_path, monkeypatch):
    from memtech import hydra_callbacks

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    parent = tracking.start_parent_run(uri, "memtech", "sweep", {})
    client = tracking.client(uri)
    experiment_id = client.get_run(parent).info.experiment_id
    running = client.create_run(experiment_id, tags={tracking.PARENT_ID_TAG: parent}).info.run_id
    finished = client.create_run(experiment_id, tags={tracking.PARENT_ID_TAG: parent}).info.run_id
    client.set_terminated(finished, "FINISHED")
    unrelated = client.create_run(experiment_id).info.run_id

    monkeypatch.setattr(hydra_callbacks, "_OPEN_PARENT", (uri, parent))
    hydra_callbacks.end_interrupted_sweep()
    status = {run_id: client.get_run(run_id).info.status for run_id in (parent, running, finished, unrelated)}
    assert status == {parent: "KILLED", running: "KILLED", finished: "FINISHED", unrelated: "RUNNING"}
    assert client.get_run(parent).data.tags["memtech.interrupted"] == "1"
    assert hydra_callbacks._OPEN_PARENT is None
    hydra_callbacks.end_interrupted_sweep()  # nothing open any more: a no-op


@pytest.mark.slow
@pytest.mark.parametrize("launcher", [["hydra/launcher=basic"], ["hydra/launcher=batched", "hydra.launcher.n_jobs=1"]])
def test_a_sweep_stopped_by_sigterm_leaves_no_run_running(tmp_path, launcher):
    import os
    import signal
    import time

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    command = [sys.executable, "-c", "from memtech.hydra_main import main; main()", "-m", *launcher,
               "trainer.epochs=2000", "seed=0,1", f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/sweep"]
    env = {**os.environ, "MEMTECH_RUNS_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seen = []
    try:
        for line in process.stdout:  # the parent run exists; the first job starts right after
            seen.append(line)
            if "sweep recorded under MLflow parent run" in line:
                break
        client = tracking.client(uri)
        experiment_id = client.get_experiment_by_name("memtech").experiment_id
        deadline = time.monotonic() + 120
        # the basic launcher opens job 0 and trains it; the batched one opens both jobs, then trains them
        opened = 2 if "hydra/launcher=batched" in launcher else 1
        while len(client.search_runs([experiment_id], filter_string=f"tags.`{tracking.PARENT_ID_TAG}` != ''")) < opened:
            assert time.monotonic() < deadline and process.poll() is None, "the jobs never created their runs"
            time.sleep(0.2)
        time.sleep(0.5)  # training (2 000 epochs) under way: stop it in the middle, not in a store write
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    output = "".join(seen) + rest
    assert process.returncode != 0, output[-2000:]
    assert "sweep interrupted" in output, output[-2000:]
    runs = client.search_runs([client.get_experiment_by_name("memtech").experiment_id])
    parents = [r for r in runs if r.data.tags.get(tracking.PARENT_TAG) == "parent"]
    assert len(parents) == 1 and parents[0].info.status == "KILLED"
    children = [r for r in runs if r.data.tags.get(tracking.PARENT_ID_TAG)]
    assert children and all(r.info.status == "KILLED" for r in children), [r.info.status for r in children]


def test_a_sweep_that_ended_but_could_not_close_its_parent_is_failed_not_killed(tmp_path, monkeypatch):
    from memtech import hydra_callbacks

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    parent = tracking.start_parent_run(uri, "memtech", "sweep", {})
    monkeypatch.setattr(hydra_callbacks, "_OPEN_PARENT", (uri, parent))
    monkeypatch.setattr(hydra_callbacks, "_SWEEP_ENDED", True)  # on_multirun_end ran, then failed to close it
    hydra_callbacks.end_interrupted_sweep()
    run = tracking.client(uri).get_run(parent)
    assert run.info.status == "FAILED" and "memtech.interrupted" not in run.data.tags

"""``memtech ui`` in a real browser (Debian's headless Chromium): the address it prints opens the memtech
experiment's training runs, not MLflow's GenAI overview; the sweep's parent run, its two job runs nested under
it, their data set, source and logged model show in the runs table, and a job's page shows its metrics."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from browser import BINARY, Chromium
from memtech import tracking

pytestmark = [pytest.mark.slow, pytest.mark.skipif(BINARY is None, reason="needs Chromium (apt-get install chromium)")]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(port: int, process: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert process.poll() is None, "memtech ui exited"
        assert time.monotonic() < deadline, "memtech ui never listened"
        time.sleep(0.3)


def test_the_ui_opens_on_the_training_runs_with_their_nesting_data_and_metrics(tmp_path):
    env = dict(os.environ, **{tracking.RUNS_DIR_ENV: str(tmp_path)})
    env.pop("MLFLOW_TRACKING_URI", None)
    sweep = subprocess.run([str(BIN / "memtech-run"), "-m", "seed=0,1", "trainer.epochs=2", "dataset=synthetic",
                            "dataset.n_samples=300", "dataset.n_features=16"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    client = tracking.client(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("memtech").experiment_id])
    children = {r.data.params["seed"]: r for r in runs if r.data.tags.get(tracking.PARENT_ID_TAG)}

    port = _free_port()
    ui = subprocess.Popen([str(BIN / "memtech"), "ui", "--port", str(port)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    browser = None
    try:
        printed = "".join(ui.stdout.readline() for _ in range(2))
        runs_page = re.search(r"memtech's runs: (\S+)", printed).group(1)
        assert runs_page.startswith(f"http://127.0.0.1:{port}/#/experiments/") and runs_page.endswith("/runs")
        _wait_listening(port, ui)
        browser = Chromium()
        browser.open(runs_page)
        shown = browser.wait_for_text("mram_then_sram sweep", "Training runs")
        assert "Model training" in shown  # the experiment's kind: MLflow shows training pages, not GenAI ones
        assert "seed=0" not in shown  # the jobs are nested under the parent, folded
        browser.evaluate("document.querySelectorAll('button[data-component-id*=runnamecellrenderer]')"
                         ".forEach(b => b.click())")
        shown = browser.wait_for_text(children["0"].info.run_name, children["1"].info.run_name)
        assert "memtech-run" in shown  # the Source column
        assert shown.count("memtech-run\nmodel") == 2, shown[:3000]  # Source, then Models: each job's logged model
        assert re.search(r"synthetic \([0-9a-f]{8}\)\s+Training", shown), shown[:3000]  # the Dataset column
        browser.open(runs_page.replace("/runs", f"/runs/{children['1'].info.run_id}"))
        accuracy = children["1"].data.metrics["test_accuracy"]
        shown = browser.wait_for_text("test_accuracy", "energy_j")
        assert f"{accuracy:.4g}"[:5] in shown, shown[:3000]
    finally:
        if browser is not None:
            browser.close()
        ui.terminate()
        ui.wait(timeout=30)

"""``memtech compare``: the Pareto front of accuracy (higher is better) vs energy (lower is better)."""

from __future__ import annotations

import math

import pytest
from mlflow.entities import Metric, Param

from memtech import cli, tracking
from memtech.compare import compare, format_report, pareto_front, swept_params
from memtech.errors import ConfigError


def test_pareto_front_on_hand_made_points():
    points = [
        (0.90, 10.0),  # 0 front: best accuracy
        (0.80, 5.0),  # 1 front
        (0.80, 6.0),  # 2 dominated by 1 (same accuracy, more energy)
        (0.70, 7.0),  # 3 dominated by 1
        (0.60, 1.0),  # 4 front: least energy
        (0.90, 10.0),  # 5 ties with 0: neither beats the other, both on the front
        (math.nan, 0.5),  # 6 diverged: never on the front
        (0.95, math.inf),  # 7 no energy: never on the front
    ]
    assert pareto_front(points) == {0, 1, 4, 5}
    assert pareto_front([]) == set()


def _log(client, run_id, params, accuracy, energy):
    client.log_batch(run_id, metrics=[Metric("test_accuracy", accuracy, 0, 0), Metric("energy_j", energy, 0, 0),
                                      Metric("memory_latency_s", energy / 10, 0, 0)],
                     params=[Param(k, v) for k, v in params.items()])


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A store with a known sweep: ber x first_fraction with hand-set results, and one failed job."""
    runs = tmp_path_factory.mktemp("runs")
    uri = f"sqlite:///{runs}/mlflow.db"
    parent = tracking.start_parent_run(uri, "memtech", "grid sweep", {})
    experiment_id = tracking.prepare_store(uri, "memtech")
    client = tracking.client(uri)
    results = {  # (ber, first_fraction) -> (accuracy, energy)
        ("1e-08", "0.2"): (0.95, 9.0),
        ("1e-08", "0.8"): (0.95, 7.0),  # front: dominates the row above
        ("1e-06", "0.8"): (0.93, 6.0),  # front
        ("0.0001", "0.8"): (0.50, 6.5),  # dominated by 1e-06/0.8
        ("0.0001", "0.95"): (0.40, 4.0),  # front: least energy
    }
    ids = {}
    for (ber, share), (acc, energy) in results.items():
        run = client.create_run(experiment_id, run_name=f"ber={ber}", tags={tracking.PARENT_ID_TAG: parent})
        _log(client, run.info.run_id, {"memories.mram.ber": ber, "schedule.first_fraction": share, "seed": "0"}, acc, energy)
        client.set_terminated(run.info.run_id, "FINISHED")
        ids[(ber, share)] = run.info.run_id
    failed = client.create_run(experiment_id, tags={tracking.PARENT_ID_TAG: parent})
    _log(client, failed.info.run_id, {"memories.mram.ber": "0.001", "schedule.first_fraction": "0.2", "seed": "0"}, 0.99, 0.1)
    client.set_terminated(failed.info.run_id, "FAILED")
    return uri, parent, ids, runs


def test_compare_finds_the_front_of_a_known_sweep_and_logs_the_figure(sweep, tmp_path):
    uri, parent, ids, _ = sweep
    report = compare(parent, uri=uri, output=tmp_path / "fig.png")
    on_front = {report.rows[i].run_id for i in report.front}
    assert on_front == {ids[("1e-08", "0.8")], ids[("1e-06", "0.8")], ids[("0.0001", "0.95")]}
    # A failed job is listed but never on the front, even with tempting numbers.
    assert any(r.status == "FAILED" for r in report.rows)
    assert report.swept == ["memories.mram.ber", "schedule.first_fraction"]
    assert (tmp_path / "fig.png").stat().st_size > 1000
    assert "compare/fig.png" in {a.path for a in tracking.client(uri).list_artifacts(parent, "compare")}
    text = format_report(report)
    front_lines = [line for line in text.splitlines() if line.startswith("*")]
    assert len(front_lines) == 3
    assert "mram.ber" in text and "first_fraction" in text and "energy_J" in text and "latency_s" in text


def test_compare_by_experiment_and_default_target(sweep, tmp_path, capsys, monkeypatch):
    uri, parent, ids, runs = sweep
    by_experiment = compare("memtech", uri=uri, output=tmp_path / "e.png", log_to_parent=False)
    assert len(by_experiment.rows) == 6, "every run except the sweep's parent"
    monkeypatch.setenv(tracking.RUNS_DIR_ENV, str(runs))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert cli.main(["compare", "--no-log"]) == 0  # the latest sweep in the project's store
    out = capsys.readouterr().out
    assert "grid sweep: 6 runs" in out and (runs / "compare" / f"{parent}.png").is_file()


def test_compare_names_what_it_could_not_find(sweep):
    uri, *_ = sweep
    with pytest.raises(ConfigError, match="target must be a parent run id or an experiment .* got 'nope'"):
        compare("nope", uri=uri)


def test_swept_params_are_those_that_vary():
    from memtech.compare import RunRow

    rows = [RunRow("a", "a", "FINISHED", {"x": "1", "y": "2"}, {}), RunRow("b", "b", "FINISHED", {"x": "1", "y": "3"}, {})]
    assert swept_params(rows) == ["y"]


def test_ui_binds_to_localhost_on_the_projects_store(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(tracking.RUNS_DIR_ENV, str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    command = cli.ui_command(tracking.resolve_uri(), 5001)
    assert command[1:4] == ["-m", "mlflow", "ui"]
    assert command[command.index("--backend-store-uri") + 1] == f"sqlite:///{tmp_path}/mlflow.db"
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert cli.main(["ui", "--print-command", "--port", "5001"]) == 0
    assert "--host 127.0.0.1 --port 5001" in capsys.readouterr().out

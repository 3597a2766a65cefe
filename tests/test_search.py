"""memtech search: the same seed gives the same search, every trial is recorded under one parent with the
best schedule and its savings, the front is the feasible trials nothing beats, and bad input is refused
before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memtech import cli, tracking
from memtech.search import SearchResult, Trial, search

FAST = ["dataset=synthetic", "dataset.n_samples=300", "dataset.n_features=16", "trainer.epochs=2", "trainer.hidden=[16]"]


def test_the_front_holds_the_feasible_trials_nothing_beats_and_the_best_is_the_cheapest_feasible():
    trials = [Trial(0, {}, 0.95, 3.0, 0, True), Trial(1, {}, 0.96, 4.0, 0, True), Trial(2, {}, 0.94, 5.0, 0, True),
              Trial(3, {}, 0.10, 1.0, 3, False)]
    result = SearchResult(0.95, 4.0, 8.0, trials)
    assert [t.number for t in result.front] == [0, 1]  # 2 costs more for less; 3 is infeasible
    assert result.best.number == 0
    assert result.saving(result.sram_energy_j) == pytest.approx(0.25)
    assert result.saving(result.standard_energy_j) == pytest.approx(0.625)
    assert SearchResult(0.95, 4.0, 8.0, [trials[3]]).best is None


@pytest.mark.parametrize("argv, fragment", [
    (["--trials", "0"], "--trials must be an integer >= 1"),
    (["--seeds", "1"], "--seeds must be an integer >= 2"),
    (["--knob", "voltage"], "--knob must be one of pulse, ber"),
    (["memories.mram.protection=maybe"], "memories.mram.protection must be one of"),
])
def test_bad_input_is_refused_before_any_work_or_record(tmp_path, argv, fragment, capsys):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert cli.main(["search", *argv, "--tracking-uri", uri]) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_the_same_seed_gives_the_same_search_and_every_trial_is_recorded(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    first = search(FAST, trials=4, seeds=2, delta=0.05, seed=3, uri=uri, say=lambda line: None)
    again = search(FAST, trials=4, seeds=2, delta=0.05, seed=3, uri=None, say=lambda line: None)
    assert [t.params for t in first.trials] == [t.params for t in again.trials]
    assert [t.energy_j for t in first.trials] == [t.energy_j for t in again.trials]
    other = search(FAST, trials=4, seeds=2, delta=0.05, seed=4, uri=None, say=lambda line: None)
    assert [t.params for t in other.trials] != [t.params for t in first.trials]

    client = tracking.client(uri)
    children = tracking.child_runs(uri, first.parent_run_id)
    assert len(children) == 4 and all(r.info.status == "FINISHED" for r in children)
    assert {r.data.params["memories.mram.protection"] for r in children} <= {"none", "parity", "secded", "sanity"}
    parent = client.get_run(first.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["baseline_accuracy"] == pytest.approx(first.baseline_accuracy)
    if first.best is not None:
        assert parent.data.metrics["best_energy_j"] == pytest.approx(first.best.energy_j)
        assert parent.data.metrics["saved_vs_sram"] == pytest.approx(first.saving(first.sram_energy_j))
        assert parent.data.tags["memtech.search.best_run"] == first.best.run_id
    front = json.loads(Path(client.download_artifacts(first.parent_run_id, "search/front.json", str(tmp_path))).read_text())
    assert [p["trial"] for p in front["front"]] == [t.number for t in first.front]

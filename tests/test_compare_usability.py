"""``memtech compare`` as a new user meets it: short run ids, empty stores, experiment tables of sane width."""

from __future__ import annotations

import warnings

import pytest
from mlflow.entities import Metric, Param

from memtech import cli, tracking
from memtech.compare import _short, compare, format_report, swept_params
from memtech.errors import ConfigError


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A sweep of two children under a parent, plus an experiment of runs logged as `memtech-run` logs
    them: a description and a name per run, and the schedule's phases flattened into params."""
    runs = tmp_path_factory.mktemp("runs")
    uri = f"sqlite:///{runs}/mlflow.db"
    parent = tracking.start_parent_run(uri, "memtech", "short sweep", {})
    experiment_id = tracking.prepare_store(uri, "memtech")
    client = tracking.client(uri)
    for ber, acc, energy in (("1e-06", 0.9, 2.0), ("0.0001", 0.6, 1.0)):
        run = client.create_run(experiment_id, tags={tracking.PARENT_ID_TAG: parent})
        client.log_batch(run.info.run_id, metrics=[Metric("test_accuracy", acc, 0, 0), Metric("energy_j", energy, 0, 0)],
                         params=[Param("memories.mram.ber", ber)])
        client.set_terminated(run.info.run_id, "FINISHED")
    presets = tracking.prepare_store(uri, "presets")
    for i, (schedule, share, memory) in enumerate((("mram_then_sram", "0.8", "mram"), ("all_sram", "0.5", "sram"),
                                                   ("mram_then_sram", "0.2", "mram"))):
        config = {
            "name": f"job {i}",
            "description": f"digits MLP number {i}, " + "a long free-text description of what this run is for " * 3,
            "memories": {"mram": {"ber": "1e-05"}},
            "schedule": {"name": schedule, "first_fraction": share,
                         "phases": [{"name": memory, "placement": {"biases": memory}}, {"name": "sram", "placement": {"biases": "sram"}}]},
        }
        run = client.create_run(presets)
        client.log_batch(run.info.run_id, metrics=[Metric("test_accuracy", 0.8 + i / 100, 0, 0), Metric("energy_j", 1.0 + i, 0, 0)],
                         params=[Param(k, v) for k, v in tracking.flatten(config).items()])
        client.set_terminated(run.info.run_id, "FINISHED")
    return uri, parent, runs


def test_a_parent_run_id_prefix_names_the_sweep(store, tmp_path, capsys):
    uri, parent, _ = store
    assert cli.main(["compare", parent[:8], "--tracking-uri", uri, "--no-log", "--output", str(tmp_path / "f.png")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("short sweep: 2 runs")
    assert compare(parent[:6], uri=uri, output=tmp_path / "g.png", log_to_parent=False).parent_run_id == parent
    assert cli.main(["compare", parent[:5], "--tracking-uri", uri, "--no-log"]) == 2  # too short to be an id: a name
    assert "target must be a parent run id or an experiment" in capsys.readouterr().err


def test_an_ambiguous_prefix_lists_its_matches(store, monkeypatch):
    uri, *_ = store
    real = tracking.client(uri)

    class TwoMatches:  # two runs sharing 6 hex digits are rare by chance; make them certain
        def __getattr__(self, name):
            return getattr(real, name)

        def search_runs(self, experiment_ids, filter_string="", **kwargs):
            assert filter_string == "attributes.run_id LIKE 'abcdef%'"
            return [type("R", (), {"info": type("I", (), {"run_id": rid})})() for rid in ("abcdef01" + "0" * 24, "abcdef02" + "0" * 24)]

    monkeypatch.setattr(tracking, "client", lambda uri: TwoMatches())
    with pytest.raises(tracking.AmbiguousRunId, match=r"target must be a prefix that matches one run .*not several "
                                                      r"\(abcdef010+, abcdef020+\), got 'abcdef'"):
        compare("abcdef", uri=uri)


def test_an_empty_store_is_named_and_not_created(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(tracking.RUNS_DIR_ENV, str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert cli.main(["compare"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("memtech: error: --tracking-uri must be an existing MLflow store")
    assert err.rstrip().endswith(f"got 'sqlite:///{tmp_path}/mlflow.db'")
    assert not (tmp_path / "mlflow.db").exists()


def test_a_store_without_the_default_experiment_lists_the_others(store, tmp_path, capsys):
    runs = tmp_path / "runs"
    uri = f"sqlite:///{runs}/mlflow.db"
    tracking.prepare_store(uri, "lab_grid")
    assert cli.main(["compare", "--tracking-uri", uri]) == 2
    err = capsys.readouterr().err
    assert "target must be an experiment or parent run in" in err and "experiments there: Default, lab_grid" in err
    assert err.rstrip().endswith("got 'memtech'")


def test_an_experiment_table_leaves_free_text_and_phase_internals_out(store, tmp_path):
    uri, *_ = store
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # matplotlib's layout warnings included
        report = compare("presets", uri=uri, output=tmp_path / "p.png")
    assert report.swept == ["schedule.first_fraction", "schedule.name"], "name, description, schedule.phases.*: no sweep"
    text = format_report(report)
    header = report.table.splitlines()[0]
    assert "description" not in text and "0.name" not in header and "placement" not in header
    assert max(len(line) for line in report.table.splitlines()) < 120
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_headers_are_short_and_never_start_at_a_list_index():
    keys = ["memories.mram.ber", "memories.sram.ber", "schedule.phases.0.name", "schedule.phases.1.placement.biases",
            "trainer.hidden"]
    assert _short("memories.mram.ber", keys) == "mram.ber"
    assert _short("trainer.hidden", keys) == "trainer.hidden"
    assert _short("schedule.phases.0.name", keys) == "phases.0.name"
    assert _short("schedule.phases.1.placement.biases", keys) == "phases.1.placement.biases"
    # "ber" must not count "fiber" as a match when deciding a header is unambiguous
    assert _short("a.ber", ["a.ber", "b.fiber"]) == "a.ber"


def test_swept_params_skip_name_description_and_phases_but_keep_first_fraction():
    from memtech.compare import RunRow

    rows = [RunRow(str(i), str(i), "FINISHED", {"name": f"n{i}", "description": f"d{i}", "schedule.first_fraction": f"0.{i}",
                                                "schedule.phases.0.name": f"p{i}", "schedule.name": f"s{i}"}, {})
            for i in range(2)]
    assert swept_params(rows) == ["schedule.first_fraction", "schedule.name"]


def test_a_baseline_prefix_outside_the_comparison_is_found_in_the_store(store, tmp_path):
    uri, parent, _ = store
    client = tracking.client(uri)
    other = client.get_experiment_by_name("presets").experiment_id
    outside = client.search_runs([other], max_results=1)[0].info.run_id
    report = compare(parent, uri=uri, output=tmp_path / "b.png", log_to_parent=False, baselines=[f"lab={outside[:8]}"])
    assert [(b.name, b.run.run_id) for b in report.baselines] == [("lab", outside)]
    missing = compare(parent, uri=uri, output=tmp_path / "c.png", log_to_parent=False, baselines=["ffffff0"])
    assert not missing.baselines or all(b.name != "b1" for b in missing.baselines)
    assert any("no run id starts with ffffff0" in note for note in missing.notes)
    with pytest.raises(ConfigError, match="--baseline must be .* prefix of at least 6"):
        compare(parent, uri=uri, output=tmp_path / "d.png", log_to_parent=False, baselines=["abc"])


def test_an_unreachable_server_is_a_clean_error(capsys):
    import socket

    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{closed.getsockname()[1]}"
        assert cli.main(["compare", "--tracking-uri", uri, "--no-log"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("memtech: error: MLflow: ") and uri in err and "Traceback" not in err

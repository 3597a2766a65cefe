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


# --- baselines -------------------------------------------------------------------------------------------
KEY = '{"seed": 0, "trainer": {"epochs": 2}}'
OTHER_KEY = '{"seed": 1, "trainer": {"epochs": 2}}'


def _run(client, experiment_id, start, *, params, accuracy, energy, tags, status="FINISHED", extra=None):
    run = client.create_run(experiment_id, start_time=start, tags=tags)
    metrics = [Metric("test_accuracy", accuracy, 0, 0), Metric("energy_j", energy, 0, 0),
               Metric("dynamic_energy_j", energy * 0.75, 0, 0), Metric("static_energy_j", energy * 0.25, 0, 0)]
    metrics += [Metric(k, v, 0, 0) for k, v in (extra or {}).items()]
    client.log_batch(run.info.run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()])
    client.set_terminated(run.info.run_id, status)
    return run.info.run_id


@pytest.fixture(scope="module")
def tradeoff(tmp_path_factory):
    """A store shaped like `experiment=mram_energy_tradeoff`: two MRAM presets x two pulses, plus all-SRAM
    runs of which exactly one is the right baseline, and one run of another seed with its own baseline."""
    runs = tmp_path_factory.mktemp("tradeoff")
    uri = f"sqlite:///{runs}/mlflow.db"
    experiment_id = tracking.prepare_store(uri, "memtech")
    client = tracking.client(uri)
    sram = {"memtech.all_sram": "true", "memtech.baseline_key": KEY}
    ids = {
        # decoys: an older baseline, a newer but FAILED one, one of another network, one not all-SRAM
        "old_sram": _run(client, experiment_id, 1000, params={"seed": "0"}, accuracy=0.5, energy=99.0, tags=sram),
        "sram": _run(client, experiment_id, 2000, params={"seed": "0"}, accuracy=0.96, energy=4.0, tags=sram),
        "failed_sram": _run(client, experiment_id, 3000, params={"seed": "0"}, accuracy=0.99, energy=1.0, tags=sram,
                            status="FAILED"),
        "other_sram": _run(client, experiment_id, 2500, params={"seed": "1"}, accuracy=0.90, energy=2.0,
                           tags={"memtech.all_sram": "true", "memtech.baseline_key": OTHER_KEY}),
        "not_sram": _run(client, experiment_id, 2600, params={"seed": "0"}, accuracy=0.97, energy=3.0,
                         tags={"memtech.all_sram": "false", "memtech.baseline_key": KEY}),
    }
    parent = tracking.start_parent_run(uri, "memtech", "tradeoff sweep", {})
    sweep = {  # (preset, thermal_stability, pulse) -> (accuracy, energy)
        ("stt_mram_standard", "60.0", "20"): (0.95, 10.0),
        ("stt_mram_standard", "60.0", "8"): (0.80, 6.0),
        ("stt_mram", "40.0", "20"): (0.94, 8.0),
        ("stt_mram", "40.0", "8"): (0.93, 5.0),
    }
    for (preset, delta, pulse), (acc, energy) in sweep.items():
        tags = {tracking.PARENT_ID_TAG: parent, "memtech.all_sram": "false", "memtech.baseline_key": KEY,
                "memtech.overrides": f"memory@memories.mram={preset} memories.mram.write_pulse_ns={pulse} trainer.epochs=2"}
        ids[(preset, pulse)] = _run(
            client, experiment_id, 4000, accuracy=acc, energy=energy, tags=tags,
            params={"memories.mram.thermal_stability": delta, "memories.mram.write_pulse_ns": pulse, "seed": "0"},
            extra={"mram.area_mm2": 0.24 if delta == "60.0" else 0.21, "sram.area_mm2": 1.11})
    tags = {tracking.PARENT_ID_TAG: parent, "memtech.all_sram": "false", "memtech.baseline_key": OTHER_KEY,
            "memtech.overrides": "memory@memories.mram=stt_mram memories.mram.write_pulse_ns=8 seed=1"}
    ids["seed1"] = _run(client, experiment_id, 4000, accuracy=0.89, energy=3.0, tags=tags,
                        params={"memories.mram.thermal_stability": "40.0", "memories.mram.write_pulse_ns": "8", "seed": "1"})
    return uri, parent, ids


def _by_id(report):
    return {row.run_id: row for row in report.rows}


def test_compare_finds_the_all_sram_baseline_of_each_network_and_measures_against_it(tradeoff, tmp_path):
    uri, parent, ids = tradeoff
    report = compare(parent, uri=uri, output=tmp_path / "t.png", log_to_parent=False)
    served = {b.key: b.run.run_id for b in report.baselines if b.name == "sram"}
    assert served == {KEY: ids["sram"], OTHER_KEY: ids["other_sram"]}
    rows = _by_id(report)
    saved, dacc = report.relative(rows[ids[("stt_mram", "8")]], "sram")
    assert saved == pytest.approx(1 - 5.0 / 4.0) and dacc == pytest.approx(0.93 - 0.96)
    saved, dacc = report.relative(rows[ids["seed1"]], "sram")  # its own network's baseline, not seed 0's
    assert saved == pytest.approx(1 - 3.0 / 2.0) and dacc == pytest.approx(0.89 - 0.90)
    text = format_report(report)
    # seed 0 and seed 1 of (stt_mram, 8 ns) are one point: energy saved -25 % and -50 %, accuracy -0.03 and
    # -0.01 against each seed's own baseline; means -37.5 % and -0.0200
    assert "4 points of 5 runs" in text
    assert "saved_vs_sram" in text and "dacc_vs_sram" in text and "-37.5%" in text and "-0.0200" in text
    assert "dynamic_J" in text and "static_J" in text
    # area: the sum of the memories' area_mm2 metrics; absent on the seed-1 run, shown as "-"
    assert rows[ids[("stt_mram", "8")]].area_mm2 == pytest.approx(0.21 + 1.11)
    assert "area_mm2" in text and "1.32" in text
    assert not any("no all-SRAM baseline" in note for note in report.notes)


def test_a_preset_choice_is_one_column_and_its_followers_are_named(tradeoff, tmp_path):
    uri, parent, _ = tradeoff
    report = compare(parent, uri=uri, output=tmp_path / "t.png", log_to_parent=False)
    # the Δ column only follows the preset choice (seed follows nothing: the seed-1 run has Δ 40 like stt_mram)
    assert report.swept == ["memory@memories.mram", "memories.mram.write_pulse_ns", "seed"]
    assert "mram also sets mram.thermal_stability" in "\n".join(report.notes)
    assert report.table.splitlines()[0].split()[1:3] == ["mram", "mram.write_pulse_ns"]


def test_baseline_by_filter_run_id_and_prefix(tradeoff, tmp_path, capsys):
    uri, parent, ids = tradeoff
    standard = ids[("stt_mram_standard", "20")]
    for spec in ("std=memories.mram.thermal_stability=60,memories.mram.write_pulse_ns=20",
                 "std=memory@memories.mram=stt_mram_standard,memories.mram.write_pulse_ns=20",
                 f"std={standard}", f"std={standard[:8]}"):
        report = compare(parent, uri=uri, output=tmp_path / "t.png", log_to_parent=False, baselines=[spec])
        (std,) = [b for b in report.baselines if b.name == "std"]
        assert std.run.run_id == standard, spec
        saved, dacc = report.relative(_by_id(report)[ids[("stt_mram", "8")]], "std")
        assert saved == pytest.approx(0.5) and dacc == pytest.approx(0.93 - 0.95)
    # unnamed: b1, b2 in order; a run outside the comparison by its full id
    report = compare(parent, uri=uri, output=tmp_path / "t.png", log_to_parent=False,
                     baselines=["memories.mram.thermal_stability=60,memories.mram.write_pulse_ns=8", ids["not_sram"]])
    assert [(b.name, b.run.run_id) for b in report.baselines if b.name != "sram"] == [
        ("b1", ids[("stt_mram_standard", "8")]), ("b2", ids["not_sram"])]
    assert cli.main(["compare", parent, "--tracking-uri", uri, "--no-log", "--output", str(tmp_path / "c.png"),
                     "--baseline", "std=memories.mram.thermal_stability=60,memories.mram.write_pulse_ns=20"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[1].split()
    assert "saved_vs_std" in header and "dacc_vs_std" in header and "saved_vs_sram" in header
    line = next(line for line in out.splitlines() if ids[("stt_mram", "8")][:8] in line)
    # the point pools seeds 0 and 1, both against std (one run): energy saved 50 % and 70 %, accuracy -0.02 and
    # -0.06; the means
    assert "+60.0%" in line and "-0.0400" in line
    assert "figure:" in out and "logged to the parent" not in out


def test_missing_baselines_are_notes_not_crashes(sweep, tradeoff, tmp_path, capsys):
    uri, parent, *_ = sweep  # runs without the tags a baseline is matched by
    report = compare(parent, uri=uri, output=tmp_path / "s.png", log_to_parent=False,
                     baselines=["memories.mram.ber=0.5", "f" * 32])
    assert report.baselines == []
    notes = "\n".join(report.notes)
    assert "no all-SRAM baseline of the same network and data for 6 of 6 run(s)" in notes
    assert "memtech-run experiment=sram_baseline" in notes
    assert "baseline b1: no compared run matches memories.mram.ber=0.5" in notes
    assert f"baseline b2: no run {'f' * 32}" in notes
    assert "saved_vs" not in report.table and "area_mm2" not in report.table
    uri, parent, _ = tradeoff
    assert cli.main(["compare", parent, "--tracking-uri", uri, "--no-log", "--output", str(tmp_path / "c.png"),
                     "--baseline", "memories.mram.write_pulse_ns=20"]) == 2  # two runs match: refuse to guess
    err = capsys.readouterr().err
    assert "--baseline must be a choice that matches one run, not 2" in err and "memories.mram.write_pulse_ns=20" in err


def test_parse_baseline_forms():
    from memtech.compare import parse_baseline

    run_id = "0123456789abcdef" * 2
    known = {"seed", "memories.mram.ber"}
    assert parse_baseline(run_id, known) == (None, run_id, {})
    assert parse_baseline(f"std={run_id}", known) == ("std", run_id, {})
    assert parse_baseline("std=abc123", known) == ("std", "abc123", {})
    assert parse_baseline("seed=123456", known) == (None, None, {"seed": "123456"})  # a param, not a name
    assert parse_baseline("trainer.epochs=20", known) == (None, None, {"trainer.epochs": "20"})  # dotted: a param
    assert parse_baseline("memories.mram.ber=0,seed=1", known) == (None, None, {"memories.mram.ber": "0", "seed": "1"})
    assert parse_baseline("x=memories.mram.ber=0,seed=1", known) == ("x", None, {"memories.mram.ber": "0", "seed": "1"})
    for bad in ("", "not-an-id", "a=b,c", "=abc123=1"):
        with pytest.raises(ConfigError, match="--baseline must be RUN_ID, NAME=RUN_ID"):
            parse_baseline(bad, known)


def test_figure_draws_the_baselines(tradeoff, tmp_path):
    import matplotlib.pyplot as plt

    from memtech.compare import figure

    uri, parent, ids = tradeoff
    standard = ids[("stt_mram_standard", "20")]
    report = compare(parent, uri=uri, output=tmp_path / "f.png", log_to_parent=False, baselines=[f"std={standard}"])
    fig = figure(report)
    try:
        ax = fig.axes[0]
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        assert f"baseline sram ({ids['sram'][:8]})" in labels and f"baseline std ({standard[:8]})" in labels
        vertical = {line.get_xdata()[0] for ax in fig.axes for line in ax.get_lines() if line.get_linestyle() == "--"}
        assert vertical == {4.0, 2.0, 10.0}  # each baseline's energy (both all-SRAM runs and std)
    finally:
        plt.close(fig)


def test_a_diverged_run_is_listed_but_never_on_the_front(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    parent = tracking.start_parent_run(uri, "memtech", "pulse sweep", {})
    experiment_id = tracking.prepare_store(uri, "memtech")
    client = tracking.client(uri)
    ids = {}
    for pulse, accuracy, energy, diverged in (("20", 0.95, 4.0, 0.0), ("10", 0.95, 2.0, 0.0), ("6", 0.09, 1.0, 1.0)):
        run = client.create_run(experiment_id, tags={tracking.PARENT_ID_TAG: parent})
        _log(client, run.info.run_id, {"memories.mram.write_pulse_ns": pulse}, accuracy, energy)
        client.log_metric(run.info.run_id, "diverged", diverged)
        client.set_terminated(run.info.run_id, "FINISHED")
        ids[pulse] = run.info.run_id
    report = compare(parent, uri=uri, output=tmp_path / "fig.png", log_to_parent=False,
                     baselines=["slow=memories.mram.write_pulse_ns=20"])
    assert {report.rows[i].run_id for i in report.front} == {ids["10"]}
    text = format_report(report)
    lines = {line.split()[-1]: line.split() for line in text.splitlines() if line.split()[-1:] in
             ([ids["10"][:8]], [ids["6"][:8]])}
    assert "+50.0%" in lines[ids["10"][:8]]
    # the diverged run used a quarter of the energy because it stopped: no saving is claimed for it
    assert "stopped" in lines[ids["6"][:8]] and "+75.0%" not in lines[ids["6"][:8]]
    assert "diverged" in lines[ids["6"][:8]]


def test_seeds_pool_into_points_whose_front_and_findings_account_for_the_noise(tmp_path, capsys):
    """Two BERs x 4 seeds, each seed with its own all-SRAM baseline. At 1e-5 the accuracy matches the
    baseline within the seeds' noise; at 1e-3 it is 0.05 lower on every seed: beyond the noise."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    parent = tracking.start_parent_run(uri, "memtech", "seeded sweep", {})
    experiment_id = tracking.prepare_store(uri, "memtech")
    client = tracking.client(uri)
    noise = [0.004, -0.003, 0.001, -0.002]
    for seed in range(4):
        base = client.create_run(experiment_id, tags={"memtech.all_sram": "true", "memtech.baseline_key": f"k{seed}"})
        _log(client, base.info.run_id, {"seed": str(seed)}, 0.95 + noise[seed], 10.0)
        client.set_terminated(base.info.run_id, "FINISHED")
        for ber, (dacc, energy) in {"1e-05": (noise[3 - seed], 6.0 + 0.1 * seed), "0.001": (-0.05, 5.0)}.items():
            run = client.create_run(experiment_id, tags={tracking.PARENT_ID_TAG: parent, "memtech.all_sram": "false",
                                                         "memtech.baseline_key": f"k{seed}"})
            _log(client, run.info.run_id, {"memories.mram.ber": ber, "seed": str(seed)}, 0.95 + noise[seed] + dacc, energy)
            client.set_terminated(run.info.run_id, "FINISHED")
    report = compare(parent, uri=uri, output=tmp_path / "seeded.svg", image_format="svg")
    assert report.seeded and [p.n for p in report.points] == [4, 4]
    by_ber = {p.values["memories.mram.ber"]: p for p in report.points}
    assert by_ber["0.001"].extra["dacc_vs_sram"].mean == pytest.approx(-0.05)
    assert by_ber["0.001"].extra["dacc_vs_sram"].excludes_zero() is True
    assert by_ber["1e-05"].extra["dacc_vs_sram"].excludes_zero() is False
    assert by_ber["1e-05"].energy_j.mean == pytest.approx(6.15)
    assert report.point_front == {0, 1}  # more accurate but costlier vs cheaper: both on the front of the means
    lines = format_report(report).splitlines()
    assert "n" in lines[1].split() and "beyond_noise_vs_sram" in lines[1].split()
    by_line = {("0.001" if " 0.001 " in line else "1e-05"): line for line in lines[2:4]}
    assert " yes " in by_line["0.001"] and " no " in by_line["1e-05"]
    assert (tmp_path / "seeded.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    # the parent run carries the same statistics
    logged = {a.path for a in client.list_artifacts(parent, "compare")}
    assert {"compare/points.json", "compare/table.txt"} <= logged
    # the command line: --format pdf writes a PDF where --output points
    assert cli.main(["compare", parent, "--tracking-uri", uri, "--no-log", "--format", "pdf", "--dpi", "72",
                     "--output", str(tmp_path / "fig.pdf")]) == 0
    assert (tmp_path / "fig.pdf").read_bytes().startswith(b"%PDF")
    with pytest.raises(ConfigError, match="--dpi"):
        compare(parent, uri=uri, output=tmp_path / "x.png", log_to_parent=False, dpi=0)

"""memtech threshold: the bisection finds a monotone criterion's threshold within the resolution from either
side, a probe passes only when every seed converges within delta of the baseline, bad input is refused
before any work, and a real search on a fast config is recorded as a parent run with a child per probe."""

from __future__ import annotations

import math

import pytest

from memtech import cli, tracking
from memtech.errors import ConfigError
from memtech.seedstats import estimate
from memtech.threshold import Criterion, Probe, bisect, find_threshold, passes, set_key

FAST = ["dataset=synthetic", "dataset.n_samples=300", "dataset.n_features=16", "trainer.epochs=3",
        "trainer.hidden=[16]", "memories.mram.write_error_mode=any"]


@pytest.mark.parametrize("true_threshold", [3.7e-5, 1.1e-8, 4e-3])
def test_bisection_brackets_the_threshold_within_the_resolution(true_threshold):
    calls = []

    def works(value):  # a BER-like knob: small values work
        calls.append(value)
        return value <= true_threshold

    passing, failing, probed = bisect(1e-9, 1e-2, works, resolution=2.0)
    assert passing <= true_threshold < failing and failing / passing <= 2.0
    assert probed == calls and len(calls) <= 2 + math.ceil(math.log2(math.log2(1e-2 / 1e-9)))


def test_a_knob_that_works_at_large_values_is_bisected_from_the_other_side():
    passing, failing, _ = bisect(1.0, 100.0, lambda pulse_ns: pulse_ns >= 12.0, resolution=1.5)  # a write pulse
    assert failing < 12.0 <= passing and passing / failing <= 1.5


@pytest.mark.parametrize("low, high, message", [(1e-9, 1e-8, "both pass"), (1e-3, 1e-2, "both fail"),
                                                (0.0, 1e-2, "two positive values")])
def test_a_range_not_across_the_threshold_is_refused(low, high, message):
    with pytest.raises(ConfigError, match=message):
        bisect(low, high, lambda v: v <= 1e-5, resolution=2.0)


def test_a_probe_passes_only_if_every_seed_converges_within_delta():
    baseline, criterion = estimate([0.95, 0.96, 0.97]), Criterion(seeds=3, delta=0.01)
    assert passes(Probe(1e-6, [0.95, 0.95, 0.96], [1.0] * 3, 0), baseline, criterion)
    assert not passes(Probe(1e-6, [0.95, 0.95, 0.96], [1.0] * 3, 1), baseline, criterion)  # one diverged
    assert not passes(Probe(1e-6, [0.94, 0.94, 0.95], [1.0] * 3, 0), baseline, criterion)  # mean 0.943 < 0.95


def test_set_key_names_a_key_the_config_does_not_have():
    config = {"memories": {"mram": {"ber": 1e-5}}}
    set_key(config, "memories.mram.ber", 1e-4)
    assert config["memories"]["mram"]["ber"] == 1e-4
    with pytest.raises(ConfigError, match="knob must be a key of the composed config"):
        set_key(config, "memories.mram.bre", 1e-4)


@pytest.mark.parametrize("argv, fragment", [
    (["memories.mram.bre", "--range", "1e-9,1e-2"], "knob must be a key of the composed config"),
    (["memories.mram.ber", "--range", "1e-9"], "--range must be two numbers A,B"),
    (["memories.mram.ber", "--range", "1e-9,1e-2", "--seeds", "1"], "--seeds must be an integer >= 2"),
    (["memories.mram.ber", "--range", "1e-9,1e-2", "--delta", "-1"], "--delta must be a finite accuracy"),
    (["memories.mram.ber", "memories.mram.protection=maybe", "--range", "1e-9,1e-2"], "memories.mram.protection must be one of"),
])
def test_bad_input_is_refused_before_any_work_or_record(tmp_path, argv, fragment, capsys):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert cli.main(["threshold", *argv, "--tracking-uri", uri]) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "mlflow.db").exists() or not tracking.client(uri).search_runs(
        [tracking.prepare_store(uri, "memtech")])


@pytest.mark.slow
def test_a_search_on_a_fast_config_is_recorded_with_a_child_run_per_probe(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    lines = []
    search = find_threshold("memories.mram.ber", (1e-9, 1e-2), FAST, Criterion(seeds=2, delta=0.02),
                            resolution=10.0, uri=uri, output=tmp_path / "threshold.png", say=lines.append)
    low, high = sorted((search.passing, search.failing))
    assert 1e-9 <= search.passing < search.failing <= 1e-2 and high / low <= 10.0
    passing = next(p for p in search.probes if p.value == search.passing)
    failing = next(p for p in search.probes if p.value == search.failing)
    assert passing.passed and passing.diverged == 0 and passing.accuracy.mean >= search.baseline.mean - 0.02
    assert not failing.passed
    assert (tmp_path / "threshold.png").is_file()
    client = tracking.client(uri)
    parent = client.get_run(search.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["threshold"] == pytest.approx(search.passing)
    assert parent.data.metrics["bracket_low"] == pytest.approx(low)
    assert parent.data.metrics["bracket_high"] == pytest.approx(high)
    assert "all 2 seeds converge" in parent.data.tags["memtech.threshold.criterion"]
    children = tracking.child_runs(uri, search.parent_run_id)
    assert len(children) == len(search.probes) and all(r.info.status == "FINISHED" for r in children)
    assert sorted(float(r.data.params["memories.mram.ber"]) for r in children) == pytest.approx(
        sorted(p.value for p in search.probes), rel=1e-5)
    assert {a.path for a in client.list_artifacts(search.parent_run_id, "threshold")} == {"threshold/threshold.png"}
    assert lines[-1].startswith("threshold for convergence: memories.mram.ber = ")


def test_two_recorded_searches_on_one_knob_keep_a_figure_each(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from memtech import threshold

    monkeypatch.setattr(tracking, "runs_dir", lambda: tmp_path)
    search = SimpleNamespace(knob="memories.mram.ber")
    first = threshold._default_figure(search, SimpleNamespace(parent="run1"))
    second = threshold._default_figure(search, SimpleNamespace(parent="run2"))
    assert first != second and first.parent == second.parent == tmp_path / "threshold"
    assert first.name == "memories.mram.ber-run1.png"
    assert threshold._default_figure(search, None).name == "memories.mram.ber.png"

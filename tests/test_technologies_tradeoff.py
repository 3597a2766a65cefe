"""The energy trade-off end to end: relaxed MRAM writes save write energy against standard MRAM, MRAM saves
leakage and area against SRAM, faster memory leaks for less simulated time, and the experiment preset sweeps
what it says."""

from __future__ import annotations

import pytest
from conftest import digits_config

from memtech.describe import load_preset
from memtech.experiment import run_experiment

STANDARD = {k: v for k, v in load_preset("stt_mram_standard").items() if k != "technology"}


def _per_memory(result, field):
    totals: dict[str, float] = {}
    for row in result.accounting:
        totals[row.memory] = totals.get(row.memory, 0.0) + getattr(row, field)
    return totals


@pytest.fixture(scope="module")
def runs(registry):
    """Three MRAM-then-SRAM runs of 3 epochs: the MRAM slot holds standard MRAM, relaxed MRAM, or SRAM."""
    schedule = {"name": "mram_then_sram", "first_fraction": 0.8}
    configs = {
        "standard": digits_config(schedule, mram=STANDARD, epochs=3),
        "relaxed": digits_config(schedule, epochs=3),
        "sram": digits_config(schedule, epochs=3),
    }
    configs["sram"]["memories"]["mram"] = {"technology": "sram"}
    return {name: run_experiment(config, registry=registry) for name, config in configs.items()}


def test_relaxed_writes_save_energy_against_standard_mram_writes(runs):
    standard = _per_memory(runs["standard"], "write_energy_j")["mram"]
    relaxed = _per_memory(runs["relaxed"], "write_energy_j")["mram"]
    bits = _per_memory(runs["relaxed"], "bits_written")["mram"]
    assert bits == _per_memory(runs["standard"], "bits_written")["mram"]  # same accesses
    assert relaxed / standard == pytest.approx(0.5 / 2.0, rel=0.02)  # §0: 0.5 vs 2.0 pJ/bit
    # relaxed writes are also faster (10 vs 20 ns), so the run's simulated time is shorter
    assert runs["relaxed"].sim_time_s < runs["standard"].sim_time_s


def test_against_sram_mram_pays_in_writes_and_gains_in_leakage_and_area(runs):
    mram_writes = _per_memory(runs["relaxed"], "write_energy_j")["mram"]
    sram_writes = _per_memory(runs["sram"], "write_energy_j")["mram"]
    assert mram_writes > sram_writes  # 0.5 vs 0.3 pJ/bit
    mram_leak = _per_memory(runs["relaxed"], "leakage_energy_j")["mram"]
    sram_leak = _per_memory(runs["sram"], "leakage_energy_j")["mram"]
    assert mram_leak < sram_leak / 4  # 1 vs 20 mW/MB, though MRAM is occupied longer
    area = {name: run.memory_cards["mram"]["derived"]["area_mm2"] for name, run in runs.items()}
    assert area["sram"] > 4 * area["relaxed"]
    assert area["relaxed"] < area["standard"] < area["sram"]


def test_run_cards_carry_the_solved_operating_point(runs):
    derived = runs["standard"].memory_cards["mram"]["derived"]
    assert derived["write_ber_0to1"] == 1e-6
    assert derived["write_pulse_ns"] == pytest.approx(20.0, rel=0.01)
    assert derived["write_energy_pj_per_bit"] == pytest.approx(2.0, rel=0.01)


def test_faster_memory_leaks_for_less_simulated_time(registry):
    fast = run_experiment(digits_config("all_sram", epochs=1), registry=registry)
    slow_config = digits_config("all_sram", epochs=1, sram={"read_latency_ns": 4.0, "write_latency_ns": 3.2})
    slow = run_experiment(slow_config, registry=registry)
    assert _per_memory(slow, "bits_read") == _per_memory(fast, "bits_read")
    assert slow.sim_time_s > fast.sim_time_s
    assert _per_memory(slow, "leakage_energy_j")["sram"] > _per_memory(fast, "leakage_energy_j")["sram"]
    assert _per_memory(slow, "read_energy_j") == _per_memory(fast, "read_energy_j")


def test_tradeoff_preset_sweeps_pulse_over_both_cells():
    from test_conf import compose_config, engine_dict

    from memtech.experiment import build_spec

    cfg = compose_config(["experiment=mram_energy_tradeoff"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    assert params["memory@memories.mram"].split(",") == ["stt_mram_standard", "stt_mram"]
    pulses = [float(v) for v in params["memories.mram.write_pulse_ns"].split(",")]
    assert 20.0 in pulses and min(pulses) < 10.0
    # one sweep point: the standard cell at a relaxed pulse gets its WER from the physics
    point = engine_dict(compose_config(["experiment=mram_energy_tradeoff", "memory@memories.mram=stt_mram_standard",
                                        "memories.mram.write_pulse_ns=14"]))
    mram = build_spec(point).memories["mram"]
    assert mram.params.thermal_stability == 60.0
    assert 1e-5 < mram.error_model().write_ber_0to1 < 1e-3
    assert point["schedule"]["first_fraction"] == 0.8


def test_a_placement_that_does_not_fit_names_the_tensors_and_the_capacity(registry):
    from memtech.errors import CapacityError

    config = digits_config("mram_then_sram", mram={"capacity_mb": 0.001}, epochs=1)
    with pytest.raises(CapacityError) as info:
        run_experiment(config, registry=registry)
    message = str(info.value)
    assert "memories.mram.capacity_mb" in message and "weights" in message and "biases" in message
    assert "0.001 MB = 8388 bit" in message

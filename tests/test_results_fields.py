"""Results carry the per-bit and per-field flips, worn-out cells and silicon area of every memory."""

from __future__ import annotations

import json
import warnings

import pytest
from conftest import digits_config

from memtech import run_experiment

FLOAT_FIELDS = ("sign", "exponent", "mantissa")


@pytest.fixture(scope="module")
def parity_run(registry):
    # every written bit may flip (hold errors included) so that every field of every value sees flips
    mram = {"ber": 1e-3, "write_error_mode": "any", "protection": "parity", "capacity_mb": 2.0}
    with warnings.catch_warnings():  # the run may overflow float32 (undetected double flips): a result too
        warnings.simplefilter("ignore", RuntimeWarning)
        return run_experiment(digits_config("mram_then_sram", mram=mram, epochs=2), registry=registry)


@pytest.fixture(scope="module")
def worn_run(registry):
    # a ReRAM whose cells endure ~300 writes: a few hundred of the weight cells wear out within 86 steps
    config = digits_config("all_mram", epochs=2)
    config["memories"]["mram"] = {"technology": "reram", "endurance_writes": 300.0, "ber": 0.0}
    with warnings.catch_warnings():  # a cell stuck at 1 in an exponent may overflow float32
        warnings.simplefilter("ignore", RuntimeWarning)
        return run_experiment(config, registry=registry)


def test_field_flips_add_up_to_the_flips(parity_run):
    metrics = parity_run.metrics()
    fields = {key: value for key, value in metrics.items() if key.startswith("flips.")}
    assert set(fields) == {f"flips.{name}" for name in (*FLOAT_FIELDS, "check")}
    assert all(fields[f"flips.{name}"] > 0 for name in (*FLOAT_FIELDS, "check"))
    assert sum(fields.values()) == metrics["flips"] > 0
    for row in parity_run.accounting:
        assert sum(row.flips_by_bit.values()) == sum(row.flips_by_field.values()) == row.total_flips
        if row.total_flips:
            # float32 + one parity bit: bits 0-22 mantissa, 23-30 exponent, 31 sign, 32 check
            assert max(row.flips_by_bit) == 32 and row.flips_by_bit[32] == row.flips_by_field["check"]
            assert sum(n for bit, n in row.flips_by_bit.items() if bit < 23) == row.flips_by_field["mantissa"]
            assert row.flips_by_bit.get(31, 0) == row.flips_by_field["sign"]


def test_fields_without_flips_report_zero(registry):
    result = run_experiment(digits_config("all_sram", epochs=1), registry=registry)
    metrics = result.metrics()
    assert metrics["flips"] == 0
    fields = {key: metrics[key] for key in metrics if key.startswith("flips.")}
    assert fields == {f"flips.{name}": 0.0 for name in FLOAT_FIELDS}


def test_area_is_capacity_times_area_per_mb(parity_run):
    metrics = parity_run.metrics()
    mram, sram = parity_run.memory_cards["mram"], parity_run.memory_cards["sram"]
    for name, card in (("mram", mram), ("sram", sram)):
        params = {row["key"]: row["value"] for row in card["parameters"]}
        assert metrics[f"{name}.area_mm2"] == pytest.approx(params["capacity_mb"] * params["area_mm2_per_mb"])
        assert metrics[f"{name}.area_mm2"] > 0
    assert metrics["mram.area_mm2"] == pytest.approx(2.0 * 0.21)  # STT-MRAM's default 0.21 mm²/MB
    assert metrics["area_mm2"] == pytest.approx(metrics["mram.area_mm2"] + metrics["sram.area_mm2"])


def test_a_run_s_area_counts_only_the_memories_it_uses(registry):
    all_sram = run_experiment(digits_config("all_sram", epochs=1), registry=registry)
    metrics = all_sram.metrics()
    assert metrics["mram.area_mm2"] > 0  # configured, and its card says what it would take
    assert metrics["area_mm2"] == pytest.approx(metrics["sram.area_mm2"])  # but an all-SRAM run does not build it


def test_worn_out_cells_reach_the_metrics(worn_run):
    metrics = worn_run.metrics()
    worn = sum(row.cells_worn_out for row in worn_run.accounting)
    assert worn > 0 and metrics["cells_worn_out"] == worn == metrics["mram.mram.cells_worn_out"]
    assert metrics["sram.mram.cells_worn_out"] == 0
    # a worn cell is stuck: its forced value shows as "stuck" flips, counted per bit and per field
    row = next(r for r in worn_run.accounting if r.memory == "mram")
    assert row.flips["stuck"] > 0 and sum(row.flips_by_bit.values()) == row.total_flips


def test_new_fields_survive_result_json(parity_run, worn_run, tmp_path):
    for i, result in enumerate((parity_run, worn_run)):
        saved = json.loads((result.save(tmp_path / str(i)) / "result.json").read_text())
        assert saved["metrics"] == pytest.approx(result.metrics(), nan_ok=True)
        for row, saved_row in zip(result.accounting, saved["accounting"]):
            assert {int(bit): n for bit, n in saved_row["flips_by_bit"].items()} == row.flips_by_bit
            assert saved_row["cells_worn_out"] == row.cells_worn_out
            assert saved_row["flips_by_field"] == row.flips_by_field

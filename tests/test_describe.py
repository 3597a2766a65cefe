"""``memtech describe``: model cards of technologies and conf/memory presets, with overrides."""

from __future__ import annotations

import json

import pytest

from memtech import cli
from memtech.describe import describe_memory


def _rows(card):
    return {row["key"]: row for row in card["parameters"]}


def test_card_lists_every_parameter_with_unit_value_and_source(capsys):
    assert cli.main(["describe", "stt_mram"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("memory technology: stt_mram")
    assert "write_pulse_ns" in out and "technology-reference.md §5.1" in out
    card = describe_memory("stt_mram")
    rows = _rows(card)
    assert rows["thermal_stability"]["value"] == 40.0
    assert rows["write_pulse_ns"]["unit"] == "ns"
    # every numeric knob says where its default comes from or what it means
    derived = card["derived"]
    for key in ("write_ber_0to1", "write_energy_pj_per_bit", "write_latency_ns", "read_disturb_ber",
                "area_mm2", "mean_retention_s", "write_pulse_ns"):
        assert key in derived
    assert derived["write_energy_pj_per_bit"] == pytest.approx(0.5, rel=0.01)


def test_preset_card_takes_values_and_sources_from_the_preset(capsys):
    assert cli.main(["describe", "stt_mram_standard", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["technology"] == "stt_mram" and card["preset"] == "stt_mram_standard"
    rows = _rows(card)
    assert rows["thermal_stability"]["value"] == 60.0
    assert "NVM-grade" in rows["thermal_stability"]["source"]  # the preset's comment, not the relaxed default's
    assert card["derived"]["write_energy_pj_per_bit"] == pytest.approx(2.0, rel=0.01)


def test_overrides_change_the_derived_figures_and_are_marked():
    base = describe_memory("stt_mram")["derived"]
    relaxed = describe_memory("stt_mram", ["ber=1e-3"])
    assert relaxed["derived"]["write_pulse_ns"] < base["write_pulse_ns"]
    assert relaxed["derived"]["write_energy_pj_per_bit"] < base["write_energy_pj_per_bit"]
    assert _rows(relaxed)["ber"]["source"] == "set on the command line"


def test_offchip_preset_card_shows_refresh_and_transfer():
    derived = describe_memory("ddr4")["derived"]
    assert derived["on_chip"] is False
    assert derived["transfer_energy_pj_per_bit"] == 4.0
    assert derived["refresh_mw_per_gb"] == pytest.approx(11.2, rel=0.01)


def test_run_cards_mark_values_that_differ_from_the_default(registry):
    technology = registry.memory("sram", key="memory").from_config({"supply_voltage_v": 0.6}, "memories.sram")
    rows = _rows(technology.describe())
    assert rows["supply_voltage_v"]["source"].startswith("configured (default None")
    assert rows["read_energy_pj_per_bit"]["source"].startswith("technology-reference.md")


def test_unknown_name_and_bad_override_are_clear_errors(capsys):
    assert cli.main(["describe", "flash"]) == 2
    err = capsys.readouterr().err
    assert "memory must be a memory technology or conf/memory preset" in err and "ddr4" in err and "'flash'" in err
    assert cli.main(["describe", "stt_mram", "ber=1.5"]) == 2
    assert "ber must be a number in [0, 1], got 1.5" in capsys.readouterr().err
    assert cli.main(["describe", "stt_mram", "ber"]) == 2
    assert "override must be key=value" in capsys.readouterr().err

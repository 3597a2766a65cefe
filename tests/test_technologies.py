"""The technology plugins: defaults reproduce technology-reference.md §0/§3, knobs move energy and errors the
way the physics says, presets load, and bad combinations fail with the key, the value and the expectation."""

from __future__ import annotations

import math

import pytest
import yaml

from memtech import physics
from memtech.describe import load_preset, memory_presets
from memtech.errors import ConfigError
from memtech.memory import BITS_PER_MB

MW_PER_GB = BITS_PER_MB * 1024 * 1e3  # W per bit -> mW per GB


def build(registry, technology, **knobs):
    return registry.memory(technology, key="memory").from_config(knobs, f"memories.{technology}")


def preset(registry, name, **knobs):
    config = load_preset(name)
    return build(registry, config.pop("technology"), **{**config, **knobs})


# --- STT-MRAM -----------------------------------------------------------------------------------------
def test_default_relaxed_cell_reproduces_the_recommended_figures(registry):
    mram = build(registry, "stt_mram")
    errors, energy, latency = mram.error_model(), mram.energy_model(), mram.latency_model()
    assert errors.write_ber_0to1 == errors.write_ber_1to0 == 1e-5  # the default job's BER, exactly
    assert errors.write_ber_hold == 0.0  # only switching cells fail
    assert energy.write_j_per_bit * 1e12 == pytest.approx(0.5, rel=0.01)  # §0 relaxed: 0.5 pJ/bit
    assert latency.write_s_per_access * 1e9 == pytest.approx(10.0, rel=0.01)  # §0 relaxed: 10 ns
    assert errors.read_disturb_ber == pytest.approx(6e-9, rel=0.05)  # §5.4 Δ=40, I_read/Ic0=0.3, b=2
    write_current_ua = mram.derived_figures()["write_current_ua_0to1"]
    assert write_current_ua == pytest.approx(40.8, rel=0.05)  # §2.2 relaxed NVSim cell


def test_standard_cell_preset_reproduces_the_recommended_figures(registry):
    mram = preset(registry, "stt_mram_standard")
    errors, energy, latency = mram.error_model(), mram.energy_model(), mram.latency_model()
    assert errors.write_ber_0to1 == errors.write_ber_1to0 == 1e-6  # §0 Δ≈60: WER 1e-6
    assert energy.write_j_per_bit * 1e12 == pytest.approx(2.0, rel=0.01)  # §0: 2.0 pJ/bit
    assert latency.write_s_per_access * 1e9 == pytest.approx(20.0, rel=0.01)  # §0: 20 ns
    assert latency.read_s_per_access * 1e9 == 5.0
    assert errors.read_disturb_ber < 1e-12  # §0: read disturb < 1e-12 per read
    assert mram.derived_figures()["write_current_ua_0to1"] == pytest.approx(80, rel=0.05)  # §2.2 NVSim cell
    # §5.3: Δ=60 keeps data for 10 years; the relaxed cell's mean retention is 7.5 years but it is rated for seconds
    assert mram.derived_figures()["retention_failure_at_report_time"] < 1e-8
    relaxed = build(registry, "stt_mram")
    assert relaxed.energy_model().write_j_per_bit < 0.3 * energy.write_j_per_bit
    assert relaxed.error_model().retention_rate_1to0_per_s > 1e8 * errors.retention_rate_1to0_per_s


def test_target_ber_solver_round_trips_through_the_physical_knobs(registry):
    for ber in (1e-8, 1e-6, 1e-4, 1e-2):
        solved = build(registry, "stt_mram", ber=ber)
        pulse_ns = solved.operating_point().pulse_s * 1e9
        physical = build(registry, "stt_mram", ber=None, write_pulse_ns=pulse_ns)
        assert physical.error_model().write_ber_0to1 == pytest.approx(ber, rel=1e-9)
        assert physical.energy_model().write_j_per_bit == pytest.approx(solved.energy_model().write_j_per_bit, rel=1e-12)
    by_current = build(registry, "stt_mram", ber=1e-6, solve_for="current", write_pulse_ns=5.0)
    ratio = by_current.operating_point().current_ratio_0to1
    physical = build(registry, "stt_mram", ber=None, write_pulse_ns=5.0, write_current_ratio=ratio)
    assert physical.error_model().write_ber_0to1 == pytest.approx(1e-6, rel=1e-9)


def test_shorter_pulse_gives_more_errors_less_energy_and_less_time(registry):
    cells = [build(registry, "stt_mram", ber=None, write_pulse_ns=t) for t in (5.0, 7.0, 10.0, 14.0, 20.0)]
    wers = [c.error_model().write_ber_0to1 for c in cells]
    energies = [c.energy_model().write_j_per_bit for c in cells]
    times = [c.latency_model().write_s_per_access for c in cells]
    assert all(a > b for a, b in zip(wers, wers[1:]))
    assert all(a < b for a, b in zip(energies, energies[1:]))
    assert all(a < b for a, b in zip(times, times[1:]))


def test_relaxing_the_target_ber_saves_write_energy(registry):
    energies = [build(registry, "stt_mram", ber=b).energy_model().write_j_per_bit
                for b in (1e-9, 1e-7, 1e-5, 1e-3)]
    assert all(a > b for a, b in zip(energies, energies[1:]))


def test_the_two_switching_directions_have_their_own_parameters(registry):
    mram = build(registry, "stt_mram", ber=1e-5, write_current_ratio_1to0=2.5)
    errors = mram.error_model()
    # the harder direction (0->1) sets the pulse and meets the target; the easier one does better
    assert errors.write_ber_0to1 == 1e-5
    assert errors.write_ber_1to0 < 1e-8
    asym = build(registry, "stt_mram", ber=None, write_pulse_ns=10.0, critical_current_ua_per_delta_1to0=0.3)
    base = build(registry, "stt_mram", ber=None, write_pulse_ns=10.0)
    assert asym.energy_model().write_j_per_bit < base.energy_model().write_j_per_bit
    pinned = build(registry, "stt_mram", write_ber_0to1=1e-3)
    assert (pinned.error_model().write_ber_0to1, pinned.error_model().write_ber_1to0) == (1e-3, 1e-5)


def test_thermal_regime_below_the_critical_current(registry):
    mram = build(registry, "stt_mram", ber=1e-3, write_current_ratio=0.5)
    point = mram.operating_point()
    assert point.pulse_s > 1e-4  # sub-critical writes need long pulses (exp(Δ(1-i)^2)·τ0·ln(1/WER) = 150 µs)
    assert mram.derived_figures()["write_regime"] == "thermal"


def test_pinned_energy_and_latency_override_the_physics(registry):
    mram = build(registry, "stt_mram", write_energy_pj_per_bit=3.0, write_latency_ns=50.0)
    assert mram.energy_model().write_j_per_bit == pytest.approx(3e-12)
    assert mram.latency_model().write_s_per_access == pytest.approx(50e-9)


def test_error_free_setting_writes_without_errors_at_the_given_pulse(registry):
    mram = build(registry, "stt_mram", ber=0.0, write_pulse_ns=10.0)
    assert mram.error_model().write_ber_0to1 == 0.0
    assert mram.latency_model().write_s_per_access == pytest.approx(10e-9)


def assert_refused(registry, knobs: dict, key: str, fragment: str) -> None:
    """Building an STT-MRAM with ``knobs`` fails with a ConfigError naming ``key`` and saying ``fragment``."""
    with pytest.raises(ConfigError) as info:
        build(registry, "stt_mram", **knobs)
    assert info.value.key == key
    assert fragment in str(info.value)


@pytest.mark.parametrize("knobs, key, fragment", [
    ({"ber": 1.0}, "memories.stt_mram.ber", "[0, 1)"),
    ({"ber": 1e-5, "write_current_ratio": 0.0}, "memories.stt_mram.write_current_ratio", "> 0"),
    ({"solve_for": "voltage"}, "memories.stt_mram.solve_for", "'pulse', 'current'"),
    ({"ber": "often"}, "memories.stt_mram.ber", "a number in [0, 1]"),
])
def test_bad_stt_settings_name_key_value_and_expectation(registry, knobs, key, fragment):
    assert_refused(registry, knobs, key, fragment)


# --- DRAM ---------------------------------------------------------------------------------------------
def test_longer_refresh_interval_raises_ber_and_lowers_refresh_energy(registry):
    drams = [preset(registry, "ddr4", refresh_interval_us=t * 1e6) for t in (0.064, 0.5, 2.0, 8.0)]
    bers = [d.derived_figures()["retention_ber_per_refresh"] for d in drams]
    refresh = [d.energy_model().refresh_w_per_bit for d in drams]
    assert bers[0] == 0.0
    assert all(a < b for a, b in zip(bers, bers[1:]))
    assert all(a > b for a, b in zip(refresh, refresh[1:]))
    # only charged cells fail: an asymmetric channel
    errors = drams[-1].error_model()
    assert errors.retention_rate_0to1_per_s == 0.0 < errors.retention_rate_1to0_per_s


@pytest.mark.parametrize("name, refresh_mw_per_gb, read_pj, act_nj, io_pj", [
    ("ddr4", 11.2, 5.75, 0.42, 4.0), ("lpddr4", 7.6, 5.3, 1.2, 3.2), ("hbm2", 23.0, 4.8, 0.95, 0.0),
])
def test_offchip_presets_reproduce_section_3_2(registry, name, refresh_mw_per_gb, read_pj, act_nj, io_pj):
    dram = preset(registry, name)
    energy, latency = dram.energy_model(), dram.latency_model()
    assert not dram.params.on_chip
    assert energy.refresh_w_per_bit * MW_PER_GB == pytest.approx(refresh_mw_per_gb, rel=0.01)
    assert energy.read_j_per_bit * 1e12 == pytest.approx(read_pj + act_nj * 1e3 / 512, rel=1e-9)
    assert energy.transfer_j_per_bit * 1e12 == pytest.approx(io_pj)
    assert latency.transfer_s_per_bit > 0
    assert dram.error_model().is_error_free  # refreshed within spec
    assert dram.area_mm2 == 0.0  # not on the processor's die


def test_offchip_placement_adds_transfer_energy_and_time(registry):
    on = build(registry, "sram")
    off = build(registry, "sram", on_chip=False)
    n = 10_000
    assert on.energy_model().transfer_j_per_bit == 0.0 and on.latency_model().transfer_s_per_bit == 0.0
    assert off.energy_model().transfer_j_per_bit == pytest.approx(4e-12)
    assert off.latency_model().read_time_s(n) - on.latency_model().read_time_s(n) == pytest.approx(n * 0.0052e-9)


def test_edram_preset_is_the_default_dram(registry):
    assert preset(registry, "edram").params == build(registry, "dram").params
    edram = build(registry, "dram")
    assert edram.error_model().is_error_free
    # §3.1: every bit refreshed every 100 µs at ≈ read + write energy
    assert edram.energy_model().refresh_w_per_bit == pytest.approx(0.6e-12 / 100e-6)


# --- ReRAM --------------------------------------------------------------------------------------------
def test_reram_defaults_reproduce_section_0(registry):
    reram = build(registry, "reram")
    assert reram.error_model().write_ber_0to1 == pytest.approx(1e-5, rel=1e-9)
    assert reram.energy_model().write_j_per_bit * 1e12 == pytest.approx(10.0, rel=0.01)
    assert reram.latency_model().write_s_per_access * 1e9 == pytest.approx(500.0, rel=0.01)
    assert reram.error_model().endurance_writes == 1e5


def test_more_verify_iterations_lower_errors_and_cost_energy_and_time(registry):
    cells = [build(registry, "reram", write_verify_max_pulses=n) for n in (1, 2, 3, 4, 6)]
    bers = [c.error_model().write_ber_0to1 for c in cells]
    energies = [c.energy_model().write_j_per_bit for c in cells]
    times = [c.latency_model().write_s_per_access for c in cells]
    assert all(a > b for a, b in zip(bers, bers[1:]))
    assert all(a < b for a, b in zip(energies, energies[1:]))
    assert all(a < b for a, b in zip(times, times[1:]))


def test_reram_stuck_at_fractions_reach_the_error_model(registry):
    errors = build(registry, "reram", stuck_at_0_fraction=0.0175, stuck_at_1_fraction=0.0904).error_model()
    assert (errors.stuck_at_0_fraction, errors.stuck_at_1_fraction) == (0.0175, 0.0904)
    assert build(registry, "reram", endurance_writes=0.0).error_model().endurance_writes == 0.0


# --- SRAM ---------------------------------------------------------------------------------------------
def test_sram_is_error_free_at_nominal_voltage(registry):
    assert build(registry, "sram").error_model().is_error_free
    assert build(registry, "sram", supply_voltage_v=0.8).error_model().write_ber_0to1 < 1e-12


def test_lower_sram_voltage_raises_ber_and_lowers_energy(registry):
    cells = [build(registry, "sram", supply_voltage_v=v) for v in (0.8, 0.7, 0.6, 0.5)]
    bers = [c.error_model().write_ber_0to1 for c in cells]
    dynamic = [c.energy_model().write_j_per_bit for c in cells]
    leakage = [c.energy_model().leakage_w_per_bit for c in cells]
    delay = [c.latency_model().read_s_per_access for c in cells]
    assert all(a < b for a, b in zip(bers, bers[1:]))
    assert all(a > b for a, b in zip(dynamic, dynamic[1:]))
    assert all(a > b for a, b in zip(leakage, leakage[1:]))
    assert all(a < b for a, b in zip(delay, delay[1:]))
    assert dynamic[-1] == pytest.approx(dynamic[0] * (0.5 / 0.8) ** 2)  # C·V²


def test_sram_voltage_below_threshold_is_refused(registry):
    with pytest.raises(ConfigError) as info:
        build(registry, "sram", supply_voltage_v=0.25)
    assert info.value.key == "memories.sram.supply_voltage_v"


# --- area, capacity, presets ----------------------------------------------------------------------------
def test_area_is_reported_and_shows_mram_density(registry):
    sram, mram = build(registry, "sram", capacity_mb=4.0), build(registry, "stt_mram", capacity_mb=4.0)
    assert sram.describe()["derived"]["area_mm2"] == pytest.approx(4 * 1.11)
    assert mram.describe()["derived"]["area_mm2"] == pytest.approx(4 * 0.21)
    assert sram.area_mm2 > 4 * mram.area_mm2  # §2.2/§6: MRAM is several times denser
    assert sram.energy_model().leakage_w_per_bit > 10 * mram.energy_model().leakage_w_per_bit


@pytest.mark.parametrize("name", sorted(memory_presets()))
def test_every_memory_preset_builds_and_every_value_has_a_comment(registry, name):
    technology = preset(registry, name)
    card = technology.describe()
    assert card["derived"]["write_energy_pj_per_bit"] > 0
    for line in memory_presets()[name].read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and not line.startswith("technology:"):
            assert "  # " in line, f"{name}.yaml: {line!r} has no source comment"
    assert yaml.safe_load(memory_presets()[name].read_text())["technology"] == technology.name


def test_physics_constants_are_those_of_the_reference(registry):
    mram = build(registry, "stt_mram")
    ic0 = mram.critical_currents_a()[0]
    # within 1.5x of the macrospin value for α = 0.01, η = 0.5 (§5.2: real devices 1.5–3× above)
    assert 1.0 <= ic0 / physics.macrospin_critical_current_a(40, 0.01, 0.5) <= 3.0


def test_write_verify_write_squares_the_error_and_costs_a_verify(registry):
    """§5.2: WER_eff = WER_1·WER_2, mean energy E_1 + E_verify + WER_1·E_2."""
    plain = build(registry, "stt_mram", ber=None, write_pulse_ns=10.0)
    verified = build(registry, "stt_mram", ber=None, write_pulse_ns=10.0, write_verify=True)
    wer = plain.error_model().write_ber_0to1
    assert verified.error_model().write_ber_0to1 == pytest.approx(wer * wer, rel=1e-12)
    e1 = plain.energy_model().write_j_per_bit
    assert verified.energy_model().write_j_per_bit == pytest.approx(e1 * (1 + wer) + 0.25e-12, rel=1e-12)
    assert verified.latency_model().write_s_per_access > plain.latency_model().write_s_per_access + 4e-9
    # at the same target the verified cell needs a shorter pulse per attempt
    target = build(registry, "stt_mram", ber=1e-6, write_verify=True)
    assert target.error_model().write_ber_0to1 == pytest.approx(1e-6, rel=1e-9)
    assert target.operating_point().pulse_s < build(registry, "stt_mram", ber=1e-6).operating_point().pulse_s


@pytest.mark.parametrize("knobs, key, fragment", [
    ({"write_pulse_ns": 7.0}, "memories.stt_mram.write_pulse_ns", "must be unset while ber is set"),
    ({"solve_for": "current", "write_pulse_ns": 5.0, "write_current_ratio": 2.0},
     "memories.stt_mram.write_current_ratio", "must be unset (null) with solve_for=current"),
    ({"solve_for": "current", "write_pulse_ns": 5.0, "write_current_ratio_1to0": 2.0},
     "memories.stt_mram.write_current_ratio_1to0", "must be unset (null) with solve_for=current"),
    ({"ber": None}, "memories.stt_mram.write_pulse_ns", "a pulse width in ns when ber is null"),
    ({"solve_for": "current"}, "memories.stt_mram.write_pulse_ns", "with solve_for=current"),
])
def test_a_knob_the_solver_would_overwrite_is_refused_not_ignored(registry, knobs, key, fragment):
    assert_refused(registry, knobs, key, fragment)


def test_the_pulse_is_used_once_the_target_ber_is_off(registry):
    seven = build(registry, "stt_mram", ber=None, write_pulse_ns=7.0)
    assert seven.operating_point().pulse_s == pytest.approx(7e-9)
    assert seven.error_model().write_ber_0to1 > build(registry, "stt_mram").error_model().write_ber_0to1


def test_error_free_cell_with_pinned_energy_and_latency_needs_no_pulse(registry):
    mram = build(registry, "stt_mram", ber=0.0, write_energy_pj_per_bit=1.0, write_latency_ns=10.0)
    assert mram.error_model().write_ber_0to1 == 0.0
    assert mram.latency_model().write_s_per_access == pytest.approx(10e-9)
    assert mram.derived_figures()["write_pulse_ns"] is None
    with pytest.raises(ConfigError, match="write_pulse_ns must be a pulse width in ns when ber is 0.0"):
        build(registry, "stt_mram", ber=0.0, write_energy_pj_per_bit=1.0)


# --- temperature (technology-reference.md §5.3: Δ ∝ 1/T at a fixed barrier) -------------------------------
def _relaxed_at(registry, temperature_k: float, **knobs):
    return build(registry, "stt_mram", temperature_k=temperature_k, **knobs)


def test_thermal_stability_scales_as_one_over_temperature(registry):
    room = _relaxed_at(registry, 300.0)
    hot = _relaxed_at(registry, 398.15)
    assert room.thermal_stability_at_temperature() == 40.0
    assert hot.thermal_stability_at_temperature() == pytest.approx(40.0 * 300.0 / 398.15, rel=1e-12)
    assert hot.critical_currents_a() == room.critical_currents_a()  # I_c0 ∝ E_b, which does not move
    # Retention and read disturb follow the lower Δ; at room temperature the relaxed cell keeps §5.3's 7.5 years.
    assert room.derived_figures()["mean_retention_s"] / (365.25 * 86400) == pytest.approx(7.5, abs=0.05)
    ratio = hot.error_model().retention_rate_0to1_per_s / room.error_model().retention_rate_0to1_per_s
    assert ratio == pytest.approx(math.exp(40.0 - hot.thermal_stability_at_temperature()), rel=1e-9)
    assert hot.read_disturb_probability() > room.read_disturb_probability()


@pytest.mark.parametrize("celsius", [110.0, 125.0])
def test_relaxed_cell_keeps_seconds_at_the_rated_temperatures(registry, celsius):
    """§0 rates the relaxed Δ≈40 cell at 1-10 s retention at 110-125 °C (BER 1e-4, the L4-cache macro)."""
    figures = _relaxed_at(registry, celsius + 273.15).derived_figures()
    assert 1.0 <= figures["retention_time_s"] <= 10.0
    # at room temperature the same cell holds its data for hours
    assert _relaxed_at(registry, 300.0).derived_figures()["retention_time_s"] > 3600


def test_temperature_acts_on_write_errors_at_a_fixed_pulse(registry):
    """With the physical knobs set (ber null) Sun's prefactor π²Δ/4 falls with Δ, so a hot cell writes better;
    with a target ber the solved pulse is shorter instead."""
    cold = _relaxed_at(registry, 300.0, ber=None, write_pulse_ns=8.0)
    hot = _relaxed_at(registry, 398.15, ber=None, write_pulse_ns=8.0)
    assert hot.attempt_wers()[0] == pytest.approx(cold.attempt_wers()[0] * 300.0 / 398.15, rel=1e-3)
    assert (_relaxed_at(registry, 398.15).operating_point().pulse_s
            < _relaxed_at(registry, 300.0).operating_point().pulse_s)

"""STT-MRAM (1T1MTJ, perpendicular MTJ): cheap relaxed writes that fail to switch now and then.

The cell is physical: thermal stability Δ, write current ratio i = I/I_c0 and pulse width t_p set the write
error rate (§5.1), the write energy (§5.2: E = V_BL·i·I_c0·t_p with I_c0 ∝ Δ) and the write latency; Δ sets
retention (§5.3); read current and read pulse set read disturb (§5.4). A user either sets a target ``ber``
(the model solves for the pulse width, or with ``solve_for: current`` for the current) or sets
``ber: null`` and the physical knobs directly. 0→1 and 1→0 switches have their own current ratio and
critical current.

The default is the relaxed, cache-grade cell (Δ≈40, WER 1e-5 at ≈10 ns, 0.5 pJ/bit) operated as
error-prone memory, the patent's first-phase memory; ``conf/memory/stt_mram_standard.yaml`` holds the
retention-grade cell (Δ≈60, WER 1e-6 at ≈20 ns, 2.0 pJ/bit). Sources: ``plugins/technology-reference.md``
§0, §2, §5.1–§5.4 and §6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import memtech
from memtech import ErrorModel, MemoryParams, MemoryTechnology, knob
from memtech import physics
from memtech.errors import ConfigError
from memtech.memory import WeakCellModel

_SRC = "technology-reference.md §0, STT-MRAM relaxed Δ≈40 column"
ATTEMPT_TIME_S = 1e-9  # τ0 of the Néel–Brown law, technology-reference.md §5.3
# The relaxed cell's write current: i=1.8 reaches WER 1e-5 at 10 ns for Δ=40 (τ_D=1 ns), technology-reference.md
# §5.1/§5.2 [D] and §0's relaxed write latency of 10 ns. A constant, not a knob default, because with
# solve_for=current the knob must stay null (the solver sets the current).
DEFAULT_WRITE_CURRENT_RATIO = 1.8
_CAL = ("[D] calibrated so that the default operating point (Δ, i, WER target) costs §0's recommended "
        "write energy; the implied write current matches the NVSim cell of §2.2")


@dataclass(frozen=True)
class SttMramParams(MemoryParams):
    capacity_mb: float = knob(1.0, unit="MB", min=0.0, min_exclusive=True, source="technology-reference.md §2.2 (1 MB arrays)")
    read_energy_pj_per_bit: float = knob(0.25, unit="pJ/bit", min=0.0, source=_SRC + " (silicon 0.2-1.2 pJ/bit)")
    write_energy_pj_per_bit: float | None = knob(
        None, unit="pJ/bit", min=0.0,
        help="null: from the physics (V_BL·i·I_c0·t_p, §5.2); a number pins it and ignores the physics")
    read_latency_ns: float = knob(4.0, unit="ns", min=0.0, min_exclusive=True, source=_SRC + " (DOI 10.1109/IEDM19573.2019.8993474)")
    write_latency_ns: float | None = knob(
        None, unit="ns", min=0.0, min_exclusive=True,
        help="null: the write pulse plus write_overhead_ns; a number pins it")
    leakage_mw_per_mb: float = knob(1.0, unit="mW/MB", min=0.0, source=_SRC + " (periphery; ≈0 power-gated)")
    area_mm2_per_mb: float = knob(0.21, unit="mm²/MB", min=0.0,
                                  source="technology-reference.md §2.2: relaxed cell, 8 MB array 1.7 mm² at 22 nm (NVSim [D])")
    ber: float | None = knob(1e-5, min=0.0, max=1.0, source=_SRC + ": raw WER 1e-5",
                             help="target write error rate per switching bit (the model solves for the pulse or "
                                  "current); 0: error-free writes at the given pulse; null: WER from the physical knobs")
    solve_for: str = knob("pulse", choices=("pulse", "current"),
                          help="with a target ber: solve for the write pulse (current fixed) or the current (pulse fixed)")
    write_ber_0to1: float | None = knob(None, min=0.0, max=1.0, help="failure rate of 0->1 switches per write attempt; overrides the physics")
    write_ber_1to0: float | None = knob(None, min=0.0, max=1.0, help="failure rate of 1->0 switches per write attempt; overrides the physics")
    write_error_mode: str = knob("switch", choices=("switch", "any"),
                                 help="switch: only bits that change can fail (physical); any: every written bit can flip")
    thermal_stability: float = knob(40.0, min=0.0, min_exclusive=True,
                                    source="technology-reference.md §0: relaxed cell Δ≈40 (retention 1-10 s @110-125 °C)")
    temperature_k: float = knob(300.0, unit="K", min=0.0, min_exclusive=True,
                                source="technology-reference.md §5.2 (I_c0 and Δ quoted at 300 K)",
                                help="operating temperature: Δ(T) = thermal_stability·thermal_stability_at_k/T (§5.3: Δ ∝ 1/T "
                                     "at a fixed barrier E_b) sets retention, read disturb and write errors; I_c0 ∝ E_b stays")
    thermal_stability_at_k: float = knob(
        300.0, unit="K", min=0.0, min_exclusive=True,
        source="technology-reference.md §0: the relaxed cell's '1 s @110 °C' at its BER 1e-4 (IEDM 2019 L4 target) needs "
               "Δ(383 K) = ln(1 s/(1 ns·1e-4)) = 29.9 (§5.3), i.e. Δ ≈ 38 at 300 K under Δ ∝ 1/T",
        help="the temperature at which thermal_stability is given")
    weak_cell_fraction: float = knob(
        0.0, min=0.0, max=1.0, source="assumption: off unless a study sets it (technology-reference.md §5.1/§5.3: WER and Δ "
                                       "vary across cells; no cited share of weak cells)",
        help="share of cells, drawn once per array from the seed, whose Δ is weak_cell_thermal_stability")
    weak_cell_thermal_stability: float = knob(
        30.0, min=0.0, min_exclusive=True,
        source="technology-reference.md §5.3 worked value: Δ=30 retains for 3 h on average",
        help="Δ of the weak cells (at thermal_stability_at_k): their retention, and their write errors at the "
             "array's write current (a lower Δ has a lower I_c0, so they switch more easily)")
    retention_spec_ber: float = knob(1e-4, min=0.0, max=0.5, min_exclusive=True,
                                     source="technology-reference.md §0: relaxed-Δ L4-cache macro, BER 1e-4 (IEDM 2019)",
                                     help="per-bit failure probability at which the model card's retention_time_s is read")
    write_current_ratio: float | None = knob(
        None, min=0.0,
        help="I/I_c0 of 0->1 switches (P->AP); null: solved with solve_for=current, else "
             f"{DEFAULT_WRITE_CURRENT_RATIO} (the relaxed cell's operating point)")
    write_current_ratio_1to0: float | None = knob(None, min=0.0, help="I/I_c0 of 1->0 switches (default: write_current_ratio)")
    write_pulse_ns: float | None = knob(
        None, unit="ns", min=0.0, min_exclusive=True,
        help="write pulse width; null: solved from ber (solve_for=pulse); required with ber null, solve_for=current "
             "or ber 0 unless write energy and latency are pinned (the relaxed cell's nominal pulse is 10 ns, technology-reference.md §0)")
    critical_current_ua_per_delta: float = knob(
        0.55, unit="µA", min=0.0, min_exclusive=True,
        source="technology-reference.md §5.2 (I_c0 ∝ Δ; macrospin 0.5 µA·Δ for α=0.01, η=0.5): 0.55 µA·Δ=22 µA at Δ=40, "
               "I_write=i·I_c0=40 µA vs 40.8 µA in §2.2's relaxed NVSim cell; " + _CAL,
        help="critical switching current per unit of Δ (I_c0 = this × Δ) for 0->1 switches")
    critical_current_ua_per_delta_1to0: float | None = knob(
        None, unit="µA", min=0.0, min_exclusive=True,
        help="the same for 1->0 switches (default: equal; in real pMTJs AP->P usually needs less current)")
    bitline_voltage_v: float = knob(1.25, unit="V", min=0.0, min_exclusive=True,
                                    source="technology-reference.md §2.2 NVSim cells [R]: 1 pJ/(80 µA·10 ns) = 1.25 V, "
                                           "0.252 pJ/(40.8 µA·5 ns) = 1.24 V [D]")
    write_overhead_ns: float = knob(0.0, unit="ns", min=0.0,
                                    source="technology-reference.md §0: write latency = pulse (10 ns relaxed, 20 ns Δ≈60)",
                                    help="periphery time added to the write pulse")
    switching_time_ns: float = knob(1.0, unit="ns", min=0.0, min_exclusive=True,
                                    source="technology-reference.md §5.1: τ_D ≈ 1 ns for α≈0.01, μ0H_K≈0.3-0.5 T")
    attempt_time_ns: float = knob(1.0, unit="ns", min=0.0, min_exclusive=True,
                                  source="technology-reference.md §5.1/§5.3: τ0 ≈ 1 ns")
    thermal_exponent_b: float = knob(2.0, min=0.0, min_exclusive=True,
                                     source="technology-reference.md §5.1: b=2 for perpendicular MTJs (Taniguchi & Imamura [A]); b=1 classic")
    read_current_ratio: float = knob(0.3, min=0.0, max=0.999, source="technology-reference.md §5.4: default I_read/I_c0 = 0.3")
    read_pulse_ns: float = knob(2.0, unit="ns", min=0.0, min_exclusive=True,
                                source="technology-reference.md §5.4: worked values at t_read = 2 ns")
    read_disturb_ber: float | None = knob(None, min=0.0, max=1.0,
                                          help="per-read flip probability; null: from Δ, read current and pulse (§5.4)")
    read_sense_ber: float = knob(0.0, min=0.0, max=1.0, source="assumption: off unless a study sets it",
                                 help="sensing errors that corrupt only the value read")
    write_verify: bool = knob(False, source="technology-reference.md §5.2: write-verify-write (Intel 22FFL [A])",
                              help="read back after each write and rewrite failed bits once: WER_eff = WER², "
                                   "energy E + E_verify + WER·E, latency adds a verify and (rarely) a second pulse")
    retention_report_s: float = knob(1.0, unit="s", min=0.0, min_exclusive=True,
                                     source="technology-reference.md §0: relaxed retention 1-10 s",
                                     help="storage time at which the model card reports the retention failure probability")


class OperatingPoint(NamedTuple):
    """The write operating point the knobs resolve to: one pulse, a current ratio and WER per direction."""

    pulse_s: float
    current_ratio_0to1: float
    current_ratio_1to0: float
    wer_0to1: float
    wer_1to0: float


class SttMram(MemoryTechnology):
    name = "stt_mram"
    Params = SttMramParams

    def __init__(self, params: SttMramParams | None = None):
        super().__init__(params)
        self._point: OperatingPoint | None = None

    # --- physics --------------------------------------------------------------------------------------
    def thermal_stability_at_temperature(self) -> float:
        """Δ = E_b/(k_B·T) at the operating temperature: the barrier E_b is held fixed, so Δ ∝ 1/T (§5.3).
        The drop of M_s and K with temperature would lower Δ further; the reference gives no figure for it."""
        p = self.params
        return p.thermal_stability * p.thermal_stability_at_k / p.temperature_k

    def _constants(self) -> tuple[float, float, float, float]:
        p = self.params
        return self.thermal_stability_at_temperature(), p.switching_time_ns * 1e-9, p.attempt_time_ns * 1e-9, p.thermal_exponent_b

    def critical_currents_a(self) -> tuple[float, float]:
        """I_c0 ∝ k_B·T·Δ = E_b (§5.2), so it is set by Δ at thermal_stability_at_k and does not move with T."""
        p = self.params
        per_delta_10 = p.critical_current_ua_per_delta if p.critical_current_ua_per_delta_1to0 is None else p.critical_current_ua_per_delta_1to0
        return (p.critical_current_ua_per_delta * 1e-6 * p.thermal_stability, per_delta_10 * 1e-6 * p.thermal_stability)

    def operating_point(self) -> OperatingPoint:
        """Resolve the knobs to (pulse, current ratios, WER per direction), solving for the target ber."""
        if self._point is None:
            self._point = self._solve()
        return self._point

    def _solve(self) -> OperatingPoint:
        p = self.params
        delta, tau_d, tau0, b = self._constants()
        i01, i10 = self._current_ratios()
        # nan: no pulse given and none needed (solved below, or ber=0 with energy and latency pinned)
        pulse = math.nan if p.write_pulse_ns is None else p.write_pulse_ns * 1e-9
        if p.ber == 0.0:
            return OperatingPoint(pulse, i01, i10, 0.0, 0.0)
        if p.ber is None:
            return OperatingPoint(pulse, i01, i10,
                                  physics.stt_wer(delta, i01, pulse, tau_d, tau0, b),
                                  physics.stt_wer(delta, i10, pulse, tau_d, tau0, b))
        # With write-verify-write a bit is wrong only if both attempts fail: each attempt may fail √target.
        target = math.sqrt(p.ber) if p.write_verify else p.ber
        if p.solve_for == "current":
            i = physics.stt_current_for_wer(delta, pulse, target, tau_d, tau0, b)
            if physics.stt_write_regime(i) != "precessional":  # solved on the blend: it may do better than asked
                target = physics.stt_wer(delta, i, pulse, tau_d, tau0, b)
            return OperatingPoint(pulse, i, i, target, target)
        # One pulse serves both directions: the harder one sets it and the easier one does better.
        pulses = (physics.stt_pulse_for_wer(delta, i01, target, tau_d, tau0, b),
                  physics.stt_pulse_for_wer(delta, i10, target, tau_d, tau0, b))
        pulse = max(pulses)
        wers = [target if t == pulse else physics.stt_wer(delta, i, pulse, tau_d, tau0, b)
                for t, i in zip(pulses, (i01, i10))]
        return OperatingPoint(pulse, i01, i10, *wers)

    def _current_ratios(self) -> tuple[float, float]:
        p = self.params
        i01 = DEFAULT_WRITE_CURRENT_RATIO if p.write_current_ratio is None else p.write_current_ratio
        return i01, (i01 if p.write_current_ratio_1to0 is None else p.write_current_ratio_1to0)

    def validate(self, key: str) -> None:
        p = self.params
        solving = p.ber is not None and p.ber != 0.0
        # A knob the solver overwrites would be silently ignored: refuse it and say how to set it instead.
        if solving and p.solve_for == "pulse" and p.write_pulse_ns is not None:
            raise ConfigError(f"{key}.write_pulse_ns", p.write_pulse_ns,
                              f"unset while ber is set (ber={p.ber} solves for the pulse; "
                              "ber=null to set the pulse yourself, or solve_for=current to solve for the current)")
        if solving and p.solve_for == "current":
            for name in ("write_current_ratio", "write_current_ratio_1to0"):
                if getattr(p, name) is not None:
                    raise ConfigError(f"{key}.{name}", getattr(p, name),
                                      f"unset (null) with solve_for=current (ber={p.ber} solves for the "
                                      "current; ber=null to set the current yourself)")
        # Without a target the pulse sets the WER (ber=null) or the write energy and latency (ber=0, unless
        # both are pinned): there is no default that would suit every cell, so it must be given.
        pinned = p.write_energy_pj_per_bit is not None and p.write_latency_ns is not None
        if p.write_pulse_ns is None and (p.ber is None or (p.ber == 0.0 and not pinned)):
            raise ConfigError(f"{key}.write_pulse_ns", None,
                              f"a pulse width in ns when ber is {'null' if p.ber is None else p.ber} (e.g. 10 for the "
                              "relaxed cell, 20 for the standard one); only a target ber solves for it")
        if solving and p.solve_for == "current" and p.write_pulse_ns is None:
            raise ConfigError(f"{key}.write_pulse_ns", None, "a pulse width in ns with solve_for=current (the current is solved for it)")
        if p.ber is not None and p.ber == 1.0:
            raise ConfigError(f"{key}.ber", p.ber, "a target write error rate in [0, 1) (or null for the physical knobs)")
        if p.ber not in (None, 0.0) and p.solve_for == "pulse":
            for name, i in zip(("write_current_ratio", "write_current_ratio_1to0"), self._current_ratios()):
                if i <= 0.0:
                    raise ConfigError(f"{key}.{name}", i, "a current ratio > 0 to solve for the pulse width")
        point = self.operating_point()
        if solving and (not math.isfinite(point.pulse_s) or point.pulse_s <= 0.0):
            raise ConfigError(f"{key}.ber", p.ber,
                              f"a write error rate reachable with a pulse > 0 at I/Ic0={self._current_ratios()[0]} "
                              f"(solved pulse {point.pulse_s * 1e9:.3g} ns)")

    # --- the three models ----------------------------------------------------------------------------
    def attempt_wers(self) -> tuple[float, float]:
        """WER of one write attempt per direction (before any verify), explicit overrides applied."""
        p = self.params
        point = self.operating_point()
        w01 = point.wer_0to1 if p.write_ber_0to1 is None else p.write_ber_0to1
        w10 = point.wer_1to0 if p.write_ber_1to0 is None else p.write_ber_1to0
        return w01, w10

    def write_energy_j_per_bit(self) -> float:
        """Mean energy of one bit write: half the written bits switch each way on random data (§5.2);
        with write-verify, E_1 + E_verify + WER_1·E_2 (§5.2)."""
        p = self.params
        if p.write_energy_pj_per_bit is not None:
            return p.write_energy_pj_per_bit * 1e-12
        point = self.operating_point()
        ic01, ic10 = self.critical_currents_a()
        e01 = physics.stt_write_energy_j(p.bitline_voltage_v, point.current_ratio_0to1, ic01, point.pulse_s)
        e10 = physics.stt_write_energy_j(p.bitline_voltage_v, point.current_ratio_1to0, ic10, point.pulse_s)
        if not p.write_verify:
            return 0.5 * (e01 + e10)
        w01, w10 = self.attempt_wers()
        verify = p.read_energy_pj_per_bit * 1e-12
        return 0.5 * ((1.0 + w01) * e01 + (1.0 + w10) * e10) + verify

    def write_latency_s(self) -> float:
        """One access: the pulse plus periphery; with write-verify a verify read, and a second pulse when any
        of the access's bits failed (probability 1 − (1 − WER)^width, on random data half switch each way)."""
        p = self.params
        if p.write_latency_ns is not None:
            return p.write_latency_ns * 1e-9
        pulse = self.operating_point().pulse_s + p.write_overhead_ns * 1e-9
        if not p.write_verify:
            return pulse
        w01, w10 = self.attempt_wers()
        half = p.access_width_bits / 2.0
        p_rewrite = -math.expm1(half * (math.log1p(-min(w01, 1 - 1e-16)) + math.log1p(-min(w10, 1 - 1e-16))))
        return pulse + p.read_latency_ns * 1e-9 + p_rewrite * pulse

    def read_disturb_probability(self) -> float:
        p = self.params
        if p.read_disturb_ber is not None:
            return p.read_disturb_ber
        delta, _, tau0, b = self._constants()
        return physics.stt_read_disturb(delta, p.read_current_ratio, p.read_pulse_ns * 1e-9, tau0, b)

    def error_model(self) -> ErrorModel:
        p = self.params
        w01, w10 = self.attempt_wers()
        if p.write_verify:
            w01, w10 = w01 * w01, w10 * w10  # a bit stays wrong only if the rewrite fails too (§5.2)
        # Néel–Brown (§5.3): each stored bit flips at rate exp(-Δ)/τ0, in either direction.
        retention_rate = physics.neel_brown_rate_per_s(self.thermal_stability_at_temperature(), p.attempt_time_ns * 1e-9)
        weak = self.weak_cell_model(w01, w10, p.write_error_mode) if p.weak_cell_fraction > 0.0 else None
        return ErrorModel(
            write_ber_0to1=w01,
            write_ber_1to0=w10,
            write_ber_hold=0.0 if p.write_error_mode == "switch" else max(w01, w10),
            read_sense_ber=p.read_sense_ber,
            read_disturb_ber=self.read_disturb_probability(),
            retention_rate_0to1_per_s=retention_rate,
            retention_rate_1to0_per_s=retention_rate,
            weak_cells=weak,
        )

    def weak_cell_model(self, w01: float, w10: float, mode: str) -> WeakCellModel:
        """The weak cells' rates: retention from their Δ(T); writes at the array's pulse and write current,
        which is a larger multiple of their smaller I_c0 (I_c0 ∝ Δ, §5.2). Pinned write rates
        (write_ber_0to1/1to0) and pinned pulses without physics apply to weak cells unchanged."""
        p = self.params
        scale = p.thermal_stability_at_k / p.temperature_k
        delta_weak = p.weak_cell_thermal_stability * scale
        point = self.operating_point()
        _, tau_d, tau0, b = self._constants()
        ratio = p.thermal_stability / p.weak_cell_thermal_stability  # I/I_c0 grows by Δ/Δ_weak

        def weak_wer(ordinary: float, current_ratio: float, pinned: float | None) -> float:
            if pinned is not None or not math.isfinite(point.pulse_s) or ordinary == 0.0:
                return ordinary
            wer = physics.stt_wer(delta_weak, current_ratio * ratio, point.pulse_s, tau_d, tau0, b)
            return wer * wer if p.write_verify else wer

        weak01 = weak_wer(w01, point.current_ratio_0to1, p.write_ber_0to1)
        weak10 = weak_wer(w10, point.current_ratio_1to0, p.write_ber_1to0)
        return WeakCellModel(
            fraction=p.weak_cell_fraction, write_ber_0to1=weak01, write_ber_1to0=weak10,
            write_ber_hold=0.0 if mode == "switch" else max(weak01, weak10),
            retention_rate_per_s=physics.neel_brown_rate_per_s(delta_weak, p.attempt_time_ns * 1e-9))

    def derived_figures(self) -> dict[str, Any]:
        p = self.params
        point = self.operating_point()
        ic01, ic10 = self.critical_currents_a()
        delta, _, tau0, _ = self._constants()
        w01, w10 = self.attempt_wers()
        return {
            "write_attempt_ber_0to1": w01,
            "write_attempt_ber_1to0": w10,
            "write_pulse_ns": point.pulse_s * 1e9 if math.isfinite(point.pulse_s) else None,
            "write_current_ratio_0to1": point.current_ratio_0to1,
            "write_current_ratio_1to0": point.current_ratio_1to0,
            "critical_current_ua_0to1": ic01 * 1e6,
            "critical_current_ua_1to0": ic10 * 1e6,
            "write_current_ua_0to1": point.current_ratio_0to1 * ic01 * 1e6,
            "write_current_ua_1to0": point.current_ratio_1to0 * ic10 * 1e6,
            "thermal_stability_at_temperature": delta,
            "mean_retention_s": physics.mean_retention_s(delta, tau0),
            "retention_time_s": physics.retention_time_s(delta, p.retention_spec_ber, tau0),
            "retention_failure_at_report_time": physics.retention_failure_probability(delta, p.retention_report_s, tau0),
            # the regime of the harder direction (lower current ratio), which sets the pulse
            "write_regime": physics.stt_write_regime(min(point.current_ratio_0to1, point.current_ratio_1to0)),
        }


@memtech.hookimpl
def memtech_register_memories(register):
    register(SttMram)

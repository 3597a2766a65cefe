"""Device-physics formulas behind the technology models, as pure functions of plain floats (SI units).

Every formula is the one written in ``plugins/technology-reference.md``; the section is named in each
docstring so a reader can check it against the reference. The plugins turn user knobs (ns, pJ, µA) into SI,
call these functions and put the results into the memory contract's ErrorModel / EnergyModel / LatencyModel.

References:
  §5.1 STT-MRAM write error rate (Sun's precessional form; Néel–Brown thermal activation, b = 1 or 2
       after Taniguchi & Imamura); §5.2 critical current and write energy; §5.3 retention; §5.4 read disturb;
  §5.5 ReRAM write-verify; §5.6 DRAM retention errors versus refresh interval.
"""

from __future__ import annotations

import math

from scipy.special import ndtr, ndtri  # normal CDF and its inverse, exact far into the tails

# Physical constants (CODATA 2018, exact or to 7 digits); used only for the macrospin critical current.
ELEMENTARY_CHARGE_C = 1.602176634e-19
BOLTZMANN_J_PER_K = 1.380649e-23
HBAR_J_S = 1.054571817e-34


# --- STT-MRAM ---------------------------------------------------------------------------------------
def stt_wer_precessional(delta: float, current_ratio: float, pulse_s: float, tau_d_s: float) -> float:
    """Write error rate in the precessional regime (i > 1), §5.1:
    ``WER = 1 − exp[−(π²Δ/4)·exp(−2(i−1)·t_p/τ_D)]``."""
    if current_ratio <= 1.0:
        raise ValueError(f"precessional regime needs I/Ic0 > 1, got {current_ratio}")
    exponent = (math.pi**2 * delta / 4.0) * math.exp(-2.0 * (current_ratio - 1.0) * pulse_s / tau_d_s)
    return -math.expm1(-exponent)


def stt_wer_thermal(delta: float, current_ratio: float, pulse_s: float, tau0_s: float, b: float) -> float:
    """Write error rate in the thermal-activation regime (i < 1), §5.1:
    ``WER = exp{−(t_p/τ0)·exp[−Δ(1−i)^b]}``."""
    if not 0.0 <= current_ratio < 1.0:
        raise ValueError(f"thermal regime needs 0 <= I/Ic0 < 1, got {current_ratio}")
    return math.exp(_log_wer_thermal(delta, current_ratio, pulse_s, tau0_s, b))


# Across I = I_c0 the two closed forms of §5.1 disagree by orders of magnitude: the thermal law's barrier
# Δ(1−i)^b vanishes there, so it switches at the attempt rate 1/τ0 (WER e^(−t_p/τ0), 4.5e-5 at 10 ns), while
# Sun's form, which ignores the thermal help to a barely critical torque, fails almost surely (WER ≈ 1 just
# above I_c0). Neither holds at the boundary (Kramers' law needs a barrier of several k_BT, Sun's form a
# current well above critical), so memtech joins them: log WER is a smoothstep blend of the two forms over
# I/I_c0 = 1 ± REGIME_BLEND_HALF_WIDTH, each form clamped to its own side of I_c0. Outside the window each
# form is exactly the reference's; inside, the WER is continuous (and smooth) but not monotone in the
# current, because the forms it joins are not ordered that way. Operate a cell outside the window.
REGIME_BLEND_HALF_WIDTH = 0.05  # assumption: a blend 5 % either side of I_c0; technology-reference.md §5.1 gives no form there
_EDGE = 1e-12  # how far from I/I_c0 = 1 each form is evaluated when it is clamped to its own side


def _log_wer_thermal(delta: float, current_ratio: float, pulse_s: float, tau0_s: float, b: float) -> float:
    return -(pulse_s / tau0_s) * math.exp(-delta * (1.0 - current_ratio) ** b)


def _log_wer_precessional(delta: float, current_ratio: float, pulse_s: float, tau_d_s: float) -> float:
    exponent = (math.pi**2 * delta / 4.0) * math.exp(-2.0 * (current_ratio - 1.0) * pulse_s / tau_d_s)
    return math.log(-math.expm1(-exponent)) if exponent > 0.0 else -math.inf


def _blend_weight(current_ratio: float, half_width: float) -> float:
    """0 at the thermal edge of the window, 1 at the precessional edge (a C¹ smoothstep between)."""
    x = min(1.0, max(0.0, (current_ratio - (1.0 - half_width)) / (2.0 * half_width)))
    return x * x * (3.0 - 2.0 * x)


def stt_write_regime(current_ratio: float, half_width: float = REGIME_BLEND_HALF_WIDTH) -> str:
    """Which form of §5.1 sets the WER at I/I_c0 = ``current_ratio``: thermal, precessional or the blend."""
    if current_ratio >= 1.0 + half_width:
        return "precessional"
    return "thermal" if current_ratio <= 1.0 - half_width else "blend"


def _log_stt_wer(delta: float, current_ratio: float, pulse_s: float, tau_d_s: float, tau0_s: float, b: float,
                 half_width: float) -> float:
    regime = stt_write_regime(current_ratio, half_width)
    if regime == "precessional":
        return _log_wer_precessional(delta, current_ratio, pulse_s, tau_d_s)
    if regime == "thermal":
        return _log_wer_thermal(delta, current_ratio, pulse_s, tau0_s, b)
    weight = _blend_weight(current_ratio, half_width)
    thermal = _log_wer_thermal(delta, min(current_ratio, 1.0 - _EDGE), pulse_s, tau0_s, b)
    precessional = _log_wer_precessional(delta, max(current_ratio, 1.0 + _EDGE), pulse_s, tau_d_s)
    return (1.0 - weight) * thermal + weight * precessional


def stt_wer(delta: float, current_ratio: float, pulse_s: float, tau_d_s: float, tau0_s: float, b: float,
            half_width: float = REGIME_BLEND_HALF_WIDTH) -> float:
    """WER at any current: the precessional form of §5.1 from I/I_c0 = 1 + ``half_width`` up, the thermal
    form up to 1 − ``half_width``, and between them the blend described at REGIME_BLEND_HALF_WIDTH."""
    regime = stt_write_regime(current_ratio, half_width)
    if regime == "precessional":
        return stt_wer_precessional(delta, current_ratio, pulse_s, tau_d_s)
    if regime == "thermal":
        return stt_wer_thermal(delta, current_ratio, pulse_s, tau0_s, b)
    return math.exp(_log_stt_wer(delta, current_ratio, pulse_s, tau_d_s, tau0_s, b, half_width))


def _check_wer(wer: float) -> None:
    if not 0.0 < wer < 1.0:
        raise ValueError(f"target write error rate must be in (0, 1), got {wer}")


def _pulse_precessional(delta: float, current_ratio: float, wer: float, tau_d_s: float) -> float:
    ratio = (math.pi**2 * delta / 4.0) / -math.log1p(-wer)
    return max(0.0, tau_d_s * math.log(ratio) / (2.0 * (current_ratio - 1.0)))


def _pulse_thermal(delta: float, current_ratio: float, wer: float, tau0_s: float, b: float) -> float:
    return -math.log(wer) * tau0_s * math.exp(delta * (1.0 - current_ratio) ** b)


def stt_pulse_for_wer(delta: float, current_ratio: float, wer: float, tau_d_s: float, tau0_s: float, b: float,
                      half_width: float = REGIME_BLEND_HALF_WIDTH) -> float:
    """Pulse width (s) that gives write error rate ``wer`` at current ratio ``i``; inverse of :func:`stt_wer`.

    Precessional (§5.1): ``t_p = τ_D·ln(π²Δ / (4·(−ln(1−WER)))) / (2(i−1))``, which is the reference's
    ``τ_D·ln(π²Δ/(4·WER)) / (2(i−1))`` for WER ≪ 1. Thermal: ``t_p = −ln(WER)·τ0·exp[Δ(1−i)^b]``.
    A WER above the zero-pulse value π²Δ/4 cannot be asked for (it needs no pulse at all): 0 is returned.
    In the blend around I_c0 the WER still falls monotonically with the pulse (both forms do, and so does
    their weighted log), so the pulse is found numerically between the two forms' own pulses.
    """
    _check_wer(wer)
    regime = stt_write_regime(current_ratio, half_width)
    if regime == "precessional":
        return _pulse_precessional(delta, current_ratio, wer, tau_d_s)
    if regime == "thermal":
        return _pulse_thermal(delta, current_ratio, wer, tau0_s, b)
    from scipy.optimize import brentq

    bounds = (_pulse_thermal(delta, min(current_ratio, 1.0 - _EDGE), wer, tau0_s, b),
              _pulse_precessional(delta, max(current_ratio, 1.0 + _EDGE), wer, tau_d_s))
    low, high = min(bounds), max(bounds)
    target = math.log(wer)

    def excess(log_pulse: float) -> float:
        return _log_stt_wer(delta, current_ratio, math.exp(log_pulse), tau_d_s, tau0_s, b, half_width) - target

    if low <= 0.0 or excess(math.log(low)) <= 0.0:
        return low
    return math.exp(brentq(excess, math.log(low), math.log(high), xtol=1e-14, rtol=1e-13))


def stt_current_for_wer(delta: float, pulse_s: float, wer: float, tau_d_s: float, tau0_s: float = 1e-9,
                        b: float = 2.0, half_width: float = REGIME_BLEND_HALF_WIDTH) -> float:
    """Current ratio I/I_c0 ≥ 1 that gives ``wer`` with pulse ``pulse_s`` (§5.1, §5.2 worked values):
    ``i = 1 + τ_D·ln(π²Δ / (4·(−ln(1−WER)))) / (2·t_p)`` in the precessional regime. A target that Sun's
    form would reach inside the blend around I_c0 is solved on the blend (τ0 and b enter only there)."""
    _check_wer(wer)
    if pulse_s <= 0.0:
        raise ValueError(f"pulse width must be > 0 s, got {pulse_s}")
    ratio = (math.pi**2 * delta / 4.0) / -math.log1p(-wer)
    current = 1.0 + max(0.0, tau_d_s * math.log(ratio) / (2.0 * pulse_s))
    if current >= 1.0 + half_width:
        return current
    from scipy.optimize import brentq

    def excess(i: float) -> float:
        return _log_stt_wer(delta, i, pulse_s, tau_d_s, tau0_s, b, half_width) - math.log(wer)

    # At the window's upper edge the blend is Sun's form, which is below the target there.
    if excess(1.0) <= 0.0:
        return 1.0
    return brentq(excess, 1.0, 1.0 + half_width, xtol=1e-14, rtol=1e-13)


def macrospin_critical_current_a(delta: float, damping: float, spin_polarization_efficiency: float,
                                 temperature_k: float = 300.0) -> float:
    """Perpendicular macrospin critical current, §5.2: ``I_c0 = (4·e·k_B·T/ħ)·(α/η)·Δ``
    (25.2 µA·(α/η)·Δ at 300 K; real devices are 1.5–3× above it)."""
    return (4.0 * ELEMENTARY_CHARGE_C * BOLTZMANN_J_PER_K * temperature_k / HBAR_J_S) * (damping / spin_polarization_efficiency) * delta


def stt_write_energy_j(bitline_voltage_v: float, current_ratio: float, critical_current_a: float, pulse_s: float) -> float:
    """Energy of one cell write at fixed bit-line voltage, §5.2: ``E_w ≈ V_BL·i·I_c0·t_p`` (∝ Δ·i·t_p)."""
    return bitline_voltage_v * current_ratio * critical_current_a * pulse_s


def neel_brown_rate_per_s(delta: float, tau0_s: float) -> float:
    """Hazard rate of a thermally activated flip of a stored bit, §5.3: ``exp(−Δ)/τ0``."""
    return math.exp(-delta) / tau0_s


def retention_failure_probability(delta: float, storage_s: float, tau0_s: float) -> float:
    """Per-bit retention failure within ``storage_s``, §5.3: ``P = 1 − exp[−(t/τ0)·exp(−Δ)]``."""
    return -math.expm1(-storage_s * neel_brown_rate_per_s(delta, tau0_s))


def mean_retention_s(delta: float, tau0_s: float) -> float:
    """Mean retention time ``τ0·e^Δ`` (§5.3: Δ = 40 → 7.5 years with τ0 = 1 ns)."""
    return tau0_s * math.exp(delta)


def retention_time_s(delta: float, failure_probability: float, tau0_s: float) -> float:
    """Storage time after which a bit has failed with probability ``p`` (inverse of
    :func:`retention_failure_probability`, §5.3): ``t = −ln(1 − p)·τ0·e^Δ``; a macro's rated retention is this
    time at its BER target."""
    return -math.log1p(-failure_probability) * tau0_s * math.exp(delta)


def delta_for_retention(storage_s: float, failure_probability: float, tau0_s: float) -> float:
    """Smallest Δ with P_ret(storage_s) ≤ p, §5.3: ``Δ ≥ ln(T/(τ0·p))`` (for p ≪ 1)."""
    return math.log(storage_s / (tau0_s * failure_probability))


def stt_read_disturb(delta: float, read_current_ratio: float, read_pulse_s: float, tau0_s: float, b: float) -> float:
    """Per-read probability that the read current flips the cell, §5.4:
    ``P_RD = 1 − exp{−(t_read/τ0)·exp[−Δ(1 − I_read/I_c0)^b]}``."""
    if not 0.0 <= read_current_ratio < 1.0:
        raise ValueError(f"read current must be below the critical current (0 <= I_read/Ic0 < 1), got {read_current_ratio}")
    return -math.expm1(-(read_pulse_s / tau0_s) * math.exp(-delta * (1.0 - read_current_ratio) ** b))


# --- ReRAM --------------------------------------------------------------------------------------------
def write_verify_ber(pulse_success_probability: float, max_pulses: int) -> float:
    """Residual write error after at most N program-and-verify iterations, §5.5: ``(1 − p_s)^N``."""
    return (1.0 - pulse_success_probability) ** max_pulses


def write_verify_expected_iterations(pulse_success_probability: float, max_pulses: int) -> float:
    """Mean iterations one cell takes, §5.5: ``Σ_{k=1..N} (1 − p_s)^(k−1)`` (energy = this × per-iteration energy)."""
    q = 1.0 - pulse_success_probability
    return sum(q ** (k - 1) for k in range(1, max_pulses + 1))


def write_verify_access_iterations(pulse_success_probability: float, max_pulses: int, bits_per_access: int) -> float:
    """Mean iterations of an access that programs ``bits_per_access`` cells in parallel: the access lasts until
    its slowest cell is verified (or N is reached), ``E[min(N, max_j K_j)] = Σ_{k=0}^{N−1} [1 − (1 − q^k)^W]``.

    This is why verify latency grows with the access width although the energy per bit does not.
    """
    q = 1.0 - pulse_success_probability
    return sum(1.0 - (1.0 - q**k) ** bits_per_access for k in range(max_pulses))


def lognormal_worn_fraction(writes: float, median_endurance_writes: float, sigma_ln: float) -> float:
    """Fraction of cells worn out after ``writes`` writes when cell endurance is log-normal (median, σ_ln)."""
    if writes <= 0.0 or median_endurance_writes <= 0.0:
        return 0.0
    return float(ndtr(math.log(writes / median_endurance_writes) / sigma_ln))


def lognormal_writes_to_fraction(fraction: float, median_endurance_writes: float, sigma_ln: float) -> float:
    """Writes after which ``fraction`` of the cells have worn out (inverse of :func:`lognormal_worn_fraction`)."""
    return median_endurance_writes * math.exp(sigma_ln * float(ndtri(fraction)))


# --- DRAM ---------------------------------------------------------------------------------------------
def dram_retention_ber(refresh_interval_s: float, guaranteed_s: float, fit_reference_s: float,
                       fit_ber_at_reference: float = 5e-6, exponent: float = 2.0) -> float:
    """Per-bit failure probability of a charged cell within one refresh interval, §5.6.

    Zero up to the guaranteed retention (JEDEC: 64 ms for DDR4 at ≤85 °C), then the fit
    ``BER = 5e-6·(t_REF / 10 s)^2`` to RAIDR/RAPID's measurements (0.25–10 s), capped at 1.
    ``fit_reference_s`` rescales the time axis for cells with a different retention (eDRAM: 100 µs).
    """
    if refresh_interval_s <= guaranteed_s:
        return 0.0
    return min(1.0, fit_ber_at_reference * (refresh_interval_s / fit_reference_s) ** exponent)


# --- SRAM ---------------------------------------------------------------------------------------------
def sram_low_voltage_ber(supply_v: float, vmin_mean_v: float, vmin_sigma_v: float) -> float:
    """Per-bit failure probability of an SRAM array at supply ``supply_v`` when the cells' minimum operating
    voltage is normally distributed (mean, σ): ``BER = Φ((V_min,mean − V)/σ)``. A cell fails (read/write
    flip) whenever the supply is below its own V_min."""
    return float(ndtr((vmin_mean_v - supply_v) / vmin_sigma_v))


def sram_leakage_scale(supply_v: float, nominal_v: float, dibl_v_per_v: float, subthreshold_slope_v: float) -> float:
    """Leakage power at ``supply_v`` relative to nominal: ``P ∝ V·I_off`` and DIBL makes
    ``I_off ∝ 10^(η·(V − V_nom)/SS)`` (subthreshold conduction with drain-induced barrier lowering)."""
    return (supply_v / nominal_v) * 10.0 ** (dibl_v_per_v * (supply_v - nominal_v) / subthreshold_slope_v)


# --- ECC (§5.7) -----------------------------------------------------------------------------------------
def word_failure_probability(bits: int, correctable: int, ber: float) -> float:
    """``P_word_fail = Σ_{j>t} C(n,j)·p^j·(1−p)^(n−j)`` for n-bit words correcting t errors (§5.7)."""
    from scipy.stats import binom

    return float(binom.sf(correctable, bits, ber))

"""SRAM (6T, on chip): error-free at nominal voltage. The smallest complete memory plugin.

An optional supply voltage scales it: dynamic energy ∝ V², leakage ∝ V·I_off(V) (DIBL), access time by the
alpha-power law, and the bit error rate rises as the supply drops below the cells' minimum operating
voltages (normally distributed across cells). Defaults: ``plugins/technology-reference.md`` §0 and §1
(22 nm, 1 MB, 512-bit access); the voltage curves are literature values tagged [L] (technology-reference.md
has no SRAM voltage data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import memtech
from memtech import EnergyModel, ErrorModel, LatencyModel, MemoryParams, MemoryTechnology, knob
from memtech import physics
from memtech.errors import ConfigError
from memtech.memory import BITS_PER_MB

_SRC = "technology-reference.md §1 SRAM, 22 nm 1 MB, NVSim [D]"
_VMIN = ("[L] fitted to the low-voltage bit-failure curve of Wilkerson et al., 'Trading off cache capacity for "
         "reliability to enable low voltage operation', ISCA 2008 (65 nm): p_fail 1e-3 at 0.50 V and ≈1e-9 at 0.70 V; "
         "not in technology-reference.md, not checked against the paper")


@dataclass(frozen=True)
class SramParams(MemoryParams):
    capacity_mb: float = knob(1.0, unit="MB", min=0.0, min_exclusive=True, source="technology-reference.md §0 (1 MB column)")
    read_energy_pj_per_bit: float = knob(0.3, unit="pJ/bit", min=0.0, source=_SRC + ": 0.32 pJ/bit")
    write_energy_pj_per_bit: float = knob(0.3, unit="pJ/bit", min=0.0, source=_SRC + ": write ≈ read")
    read_latency_ns: float = knob(1.0, unit="ns", min=0.0, min_exclusive=True, source=_SRC + ": 1.04 ns")
    write_latency_ns: float = knob(0.8, unit="ns", min=0.0, min_exclusive=True, source=_SRC + ": 0.77 ns")
    leakage_mw_per_mb: float = knob(20.0, unit="mW/MB", min=0.0, source=_SRC + ": 20 mW/MB @1 MB, LOP, 350 K")
    area_mm2_per_mb: float = knob(1.11, unit="mm²/MB", min=0.0, source="technology-reference.md §6: SRAM 22 nm 1 MB array 1.11 mm² (NVSim [D])")
    ber: float = knob(0.0, min=0.0, max=1.0, source="technology-reference.md §1: raw BER 0 at nominal voltage",
                      help="per-bit error probability of every write, on top of the voltage curve")
    supply_voltage_v: float | None = knob(None, unit="V", min=0.0, min_exclusive=True,
                                          help="null: nominal voltage (the figures above, error-free); a value scales "
                                               "energy, leakage, latency and BER")
    nominal_voltage_v: float = knob(0.8, unit="V", min=0.0, min_exclusive=True,
                                    source="[L] typical nominal supply of 22 nm low-power logic (assumption; the §1 figures are for it)")
    vmin_mean_v: float = knob(0.287, unit="V", min=0.0, source=_VMIN)
    vmin_sigma_v: float = knob(0.0688, unit="V", min=0.0, min_exclusive=True, source=_VMIN)
    threshold_voltage_v: float = knob(0.3, unit="V", min=0.0,
                                      source="[L] alpha-power law, Sakurai & Newton, IEEE JSSC 25(2) 1990; V_th ≈ 0.3 V (assumption)")
    velocity_saturation_alpha: float = knob(1.3, min=1.0, max=2.0,
                                            source="[L] Sakurai & Newton, IEEE JSSC 25(2) 1990: α≈1.3 for short-channel devices")
    dibl_v_per_v: float = knob(0.1, unit="V/V", min=0.0,
                               source="[L] Roy et al., 'Leakage current mechanisms...', Proc. IEEE 91(2) 2003: DIBL ≈ 0.1 V/V (assumption)")
    subthreshold_slope_v_per_decade: float = knob(0.1, unit="V/dec", min=0.0, min_exclusive=True,
                                                  source="[L] Roy et al., Proc. IEEE 2003: ~100 mV/dec at 350 K (assumption)")


class Sram(MemoryTechnology):
    name = "sram"
    Params = SramParams

    def validate(self, key: str) -> None:
        p = self.params
        if p.supply_voltage_v is not None and p.supply_voltage_v <= p.threshold_voltage_v:
            raise ConfigError(f"{key}.supply_voltage_v", p.supply_voltage_v,
                              f"a voltage above threshold_voltage_v = {p.threshold_voltage_v} V")

    def voltage_ber(self) -> float:
        """Per-bit failure probability from the supply voltage alone (0 at the nominal setting)."""
        p = self.params
        if p.supply_voltage_v is None:
            return 0.0
        return physics.sram_low_voltage_ber(p.supply_voltage_v, p.vmin_mean_v, p.vmin_sigma_v)

    def _scales(self) -> tuple[float, float, float]:
        """(dynamic energy, leakage, delay) relative to nominal voltage."""
        p = self.params
        if p.supply_voltage_v is None:
            return 1.0, 1.0, 1.0
        v, v0 = p.supply_voltage_v, p.nominal_voltage_v
        dynamic = (v / v0) ** 2  # C·V² switching energy
        leakage = physics.sram_leakage_scale(v, v0, p.dibl_v_per_v, p.subthreshold_slope_v_per_decade)
        def delay(x: float) -> float:
            return x / (x - p.threshold_voltage_v) ** p.velocity_saturation_alpha
        return dynamic, leakage, delay(v) / delay(v0)

    def error_model(self) -> ErrorModel:
        ber = 1.0 - (1.0 - self.params.ber) * (1.0 - self.voltage_ber())
        return ErrorModel.uniform_write(ber)

    def energy_model(self) -> EnergyModel:
        p = self.params
        dynamic, leakage, _ = self._scales()
        return EnergyModel(
            read_j_per_bit=p.read_energy_pj_per_bit * 1e-12 * dynamic,
            write_j_per_bit=p.write_energy_pj_per_bit * 1e-12 * dynamic,
            leakage_w_per_bit=p.leakage_mw_per_mb * 1e-3 / BITS_PER_MB * leakage,
            transfer_j_per_bit=self.offchip_energy_j_per_bit(),
        )

    def latency_model(self) -> LatencyModel:
        p = self.params
        _, _, delay = self._scales()
        return LatencyModel(p.read_latency_ns * 1e-9 * delay, p.write_latency_ns * 1e-9 * delay,
                            p.access_width_bits, p.banks, self.offchip_latency_s_per_bit())

    def derived_figures(self) -> dict[str, Any]:
        dynamic, leakage, delay = self._scales()
        return {"voltage_ber": self.voltage_ber(), "dynamic_energy_scale": dynamic,
                "leakage_scale": leakage, "delay_scale": delay}


@memtech.hookimpl
def memtech_register_memories(register):
    register(Sram)

"""DRAM: embedded 1T1C by default (on chip, refreshed every 100 µs); presets ddr4/lpddr4/hbm2 are off chip.

Only charged cells lose their value (1 -> 0), so retention errors form an asymmetric channel (§5.6). The
refresh interval sets both the retention BER (zero up to the guaranteed retention, then the §5.6 fit
``5e-6·(t/10 s)^2``) and the refresh power (every bit refreshed once per interval). Each access may open
a row: ``activate_energy_nj`` is shared by the ``bits_per_activate`` bits moved per activation.
Defaults: ``plugins/technology-reference.md`` §0, §3 and §5.6.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import memtech
from memtech import ErrorModel, EnergyModel, MemoryParams, MemoryTechnology, knob
from memtech import physics
from memtech.memory import BITS_PER_MB

_SRC = "technology-reference.md §0, eDRAM 1T1C column"


@dataclass(frozen=True)
class DramParams(MemoryParams):
    capacity_mb: float = knob(1.0, unit="MB", min=0.0, min_exclusive=True, source="technology-reference.md §0 scope (1-8 MB buffers)")
    read_energy_pj_per_bit: float = knob(0.3, unit="pJ/bit", min=0.0, source=_SRC + ": assume ≈ SRAM of the same capacity [D]")
    write_energy_pj_per_bit: float = knob(0.3, unit="pJ/bit", min=0.0, source=_SRC + ": = read")
    read_latency_ns: float = knob(2.0, unit="ns", min=0.0, min_exclusive=True, source=_SRC + " (Barth et al., JSSC 43(1) 2008 [A])")
    write_latency_ns: float = knob(2.0, unit="ns", min=0.0, min_exclusive=True, source=_SRC)
    leakage_mw_per_mb: float = knob(0.0, unit="mW/MB", min=0.0,
                                    source="technology-reference.md §3.1: standby is refresh-dominated, and refresh is "
                                           "counted on its own",
                                    help="standby besides refresh")
    area_mm2_per_mb: float = knob(0.46, unit="mm²/MB", min=0.0,
                                  source="technology-reference.md §3.1/§6 [D]: 60 F² eDRAM cell vs SRAM's 146 F² → 1.11 mm²/MB × 60/146")
    refresh_interval_us: float = knob(100.0, unit="µs", min=0.0, min_exclusive=True,
                                      source="technology-reference.md §3.1: 100 µs retention @22 nm (MemSysExplorer eDRAM cell [R])")
    retention_guaranteed_us: float = knob(100.0, unit="µs", min=0.0,
                                          source="technology-reference.md §3.1: 100 µs retention @22 nm [R]",
                                          help="refresh intervals up to this lose no data (JEDEC: 64 ms for DDR4)")
    retention_fit_reference_s: float = knob(
        0.015625, unit="s", min=0.0, min_exclusive=True,
        source="technology-reference.md §5.6 fit BER=5e-6·(t/10 s)^2 for 64 ms parts [D]; for this cell the time axis is "
               "scaled by 100 µs/64 ms (assumption: same curve shape, relative to the guaranteed retention)",
        help="t at which the retention fit reaches 5e-6 per bit and interval")
    retention_ber_per_refresh: float | None = knob(
        None, min=0.0, max=1.0,
        help="probability that a charged cell fails within one refresh interval; null: from the §5.6 fit")
    refresh_energy_pj_per_bit: float | None = knob(
        None, unit="pJ/bit", min=0.0,
        source="technology-reference.md §3.1: P_ref = N_rows·E_row/t_ret; null approximates E_row per bit by read + write energy [D]",
        help="energy to refresh one bit once")
    activate_energy_nj: float = knob(0.0, unit="nJ", min=0.0,
                                     source="technology-reference.md §3.1: eDRAM energy not characterized beyond ≈ SRAM (included in the access energy)",
                                     help="ACT+PRE energy of one row activation")
    bits_per_activate: int = knob(512, unit="bit", min=1,
                                  source="technology-reference.md §3.2: 'random 64 B access, 1 ACT per access' (assumption: no row-buffer reuse)")
    ber: float = knob(0.0, min=0.0, max=1.0, source="assumption: error-free at nominal timings",
                      help="per-bit error probability of every write (e.g. reduced tRCD, EDEN)")


class Dram(MemoryTechnology):
    name = "dram"
    Params = DramParams

    def retention_ber(self) -> float:
        p = self.params
        if p.retention_ber_per_refresh is not None:
            return p.retention_ber_per_refresh
        return physics.dram_retention_ber(p.refresh_interval_us * 1e-6, p.retention_guaranteed_us * 1e-6, p.retention_fit_reference_s)

    def refresh_energy_j_per_bit(self) -> float:
        p = self.params
        if p.refresh_energy_pj_per_bit is not None:
            return p.refresh_energy_pj_per_bit * 1e-12
        return (p.read_energy_pj_per_bit + p.write_energy_pj_per_bit) * 1e-12

    def error_model(self) -> ErrorModel:
        p = self.params
        ber = self.retention_ber()
        # A per-interval failure probability as a constant hazard rate on charged cells only.
        rate = -math.log1p(-ber) / (p.refresh_interval_us * 1e-6) if ber < 1 else math.inf
        return ErrorModel.uniform_write(p.ber, retention_rate_1to0_per_s=rate)

    def energy_model(self) -> EnergyModel:
        p = self.params
        activate_j_per_bit = p.activate_energy_nj * 1e-9 / p.bits_per_activate
        access = super().energy_model()
        return dataclasses.replace(
            access,
            read_j_per_bit=access.read_j_per_bit + activate_j_per_bit,
            write_j_per_bit=access.write_j_per_bit + activate_j_per_bit,
            # Every bit is refreshed once per interval.
            refresh_w_per_bit=self.refresh_energy_j_per_bit() / (p.refresh_interval_us * 1e-6),
        )

    def derived_figures(self) -> dict[str, Any]:
        p = self.params
        return {
            "retention_ber_per_refresh": self.retention_ber(),
            "refresh_energy_pj_per_bit": self.refresh_energy_j_per_bit() * 1e12,
            "activate_energy_pj_per_bit": p.activate_energy_nj * 1e3 / p.bits_per_activate,
            "refresh_mw_per_gb": self.energy_model().refresh_w_per_bit * BITS_PER_MB * 1024 * 1e3,
        }


@memtech.hookimpl
def memtech_register_memories(register):
    register(Dram)

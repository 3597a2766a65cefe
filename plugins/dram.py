"""DRAM: embedded 1T1C by default (on chip, refreshed every 100 µs); set ``on_chip: false`` for off-chip parts.

Only charged cells lose their value (1 -> 0), so retention errors form an asymmetric channel (§5.6).
Defaults: ``../shared/memory-parameters.md`` §0 and §3.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import memtech
from memtech import ErrorModel, EnergyModel, MemoryParams, MemoryTechnology, knob

_SRC = "memory-parameters.md §0, eDRAM 1T1C column"


@dataclass(frozen=True)
class DramParams(MemoryParams):
    capacity_mb: float = knob(1.0, unit="MB", min=0.0, min_exclusive=True, source="memory-parameters.md §0 scope (1-8 MB buffers)")
    read_energy_pj_per_bit: float = knob(0.3, unit="pJ/bit", min=0.0, source=_SRC + ": assume ≈ SRAM of the same capacity [D]")
    write_energy_pj_per_bit: float = knob(0.3, unit="pJ/bit", min=0.0, source=_SRC + ": = read")
    read_latency_ns: float = knob(2.0, unit="ns", min=0.0, min_exclusive=True, source=_SRC + " (Barth et al., JSSC 43(1) 2008 [A])")
    write_latency_ns: float = knob(2.0, unit="ns", min=0.0, min_exclusive=True, source=_SRC)
    leakage_mw_per_mb: float = knob(0.0, unit="mW/MB", min=0.0, help="standby besides refresh (refresh-dominated, §3.1)")
    refresh_interval_us: float = knob(100.0, unit="µs", min=0.0, min_exclusive=True,
                                      source="memory-parameters.md §3.1: 100 µs retention @22 nm (MemSysExplorer eDRAM cell [R])")
    retention_ber_per_refresh: float = knob(0.0, min=0.0, max=1.0,
                                            source="memory-parameters.md §0: raw BER 0 if refreshed in time",
                                            help="probability that a charged cell fails within one refresh interval")
    ber: float = knob(0.0, min=0.0, max=1.0, help="per-bit error probability of every write (e.g. reduced tRCD, EDEN)")


class Dram(MemoryTechnology):
    name = "dram"
    Params = DramParams

    def error_model(self) -> ErrorModel:
        p = self.params
        # A per-interval failure probability as a constant hazard rate on charged cells only.
        rate = -math.log1p(-p.retention_ber_per_refresh) / (p.refresh_interval_us * 1e-6) if p.retention_ber_per_refresh < 1 else math.inf
        return ErrorModel.uniform_write(p.ber, retention_rate_1to0_per_s=rate)

    def energy_model(self) -> EnergyModel:
        p = self.params
        # Refresh reads and rewrites every cell once per interval (§3.1: P_ref = N_rows · E_row / t_ret,
        # with the row energy approximated by the per-bit access energies) [D].
        refresh_w_per_bit = (p.read_energy_pj_per_bit + p.write_energy_pj_per_bit) * 1e-12 / (p.refresh_interval_us * 1e-6)
        return dataclasses.replace(super().energy_model(), refresh_w_per_bit=refresh_w_per_bit)


@memtech.hookimpl
def memtech_register_memories(register):
    register(Dram)

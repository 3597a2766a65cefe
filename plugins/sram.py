"""SRAM (6T, on chip): error-free at nominal voltage. The smallest complete memory plugin.

Defaults: ``../shared/memory-parameters.md`` §0 and §1 (22 nm, 1 MB, 512-bit access).
"""

from __future__ import annotations

from dataclasses import dataclass

import memtech
from memtech import ErrorModel, MemoryParams, MemoryTechnology, knob

_SRC = "memory-parameters.md §1 SRAM, 22 nm 1 MB, NVSim [D]"


@dataclass(frozen=True)
class SramParams(MemoryParams):
    capacity_mb: float = knob(1.0, unit="MB", min=0.0, min_exclusive=True, source="memory-parameters.md §0 (1 MB column)")
    read_energy_pj_per_bit: float = knob(0.3, unit="pJ/bit", min=0.0, source=_SRC + ": 0.32 pJ/bit")
    write_energy_pj_per_bit: float = knob(0.3, unit="pJ/bit", min=0.0, source=_SRC + ": write ≈ read")
    read_latency_ns: float = knob(1.0, unit="ns", min=0.0, min_exclusive=True, source=_SRC + ": 1.04 ns")
    write_latency_ns: float = knob(0.8, unit="ns", min=0.0, min_exclusive=True, source=_SRC + ": 0.77 ns")
    leakage_mw_per_mb: float = knob(20.0, unit="mW/MB", min=0.0, source=_SRC + ": 20 mW/MB @1 MB, LOP, 350 K")
    ber: float = knob(0.0, min=0.0, max=1.0, source="memory-parameters.md §1: raw BER 0 at nominal voltage",
                      help="per-bit error probability of every write (e.g. a voltage-scaled array)")


class Sram(MemoryTechnology):
    name = "sram"
    Params = SramParams

    def error_model(self) -> ErrorModel:
        return ErrorModel.uniform_write(self.params.ber)


@memtech.hookimpl
def memtech_register_memories(register):
    register(Sram)

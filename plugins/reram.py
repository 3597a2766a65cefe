"""ReRAM (1T1R HfOx/TaOx, single level per cell): dense, slow and costly to write, with stuck cells.

Defaults: ``../shared/memory-parameters.md`` §0, §4 and §5.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import memtech
from memtech import ErrorModel, MemoryParams, MemoryTechnology, knob

_SRC = "memory-parameters.md §0 and §4, ReRAM 1T1R (SLC) column"


@dataclass(frozen=True)
class ReramParams(MemoryParams):
    capacity_mb: float = knob(1.0, unit="MB", min=0.0, min_exclusive=True, source="memory-parameters.md §4 (1 MB arrays)")
    read_energy_pj_per_bit: float = knob(1.0, unit="pJ/bit", min=0.0, source=_SRC + ": silicon 1 pJ/bit (DOI 10.1109/ISSCC.2019.8662393)")
    write_energy_pj_per_bit: float = knob(10.0, unit="pJ/bit", min=0.0, source=_SRC + ": 10 pJ/bit incl. verify (≈2 V·50 µA·100 ns) [D]")
    read_latency_ns: float = knob(10.0, unit="ns", min=0.0, min_exclusive=True, source=_SRC + ": 10 ns")
    write_latency_ns: float = knob(500.0, unit="ns", min=0.0, min_exclusive=True, source=_SRC + ": 500 ns incl. verify")
    leakage_mw_per_mb: float = knob(1.0, unit="mW/MB", min=0.0, source=_SRC + ": standby 1 mW/MB")
    ber: float = knob(1e-5, min=0.0, max=1.0, source=_SRC + ": raw BER 1e-5 pre-ECC (Intel ISSCC 2019)")
    stuck_at_0_fraction: float = knob(0.0, min=0.0, max=1.0,
                                      source="memory-parameters.md §5.5: 0 for qualified macros; stress case 0.0175 (Chen et al., IEEE TC 2015 [L])")
    stuck_at_1_fraction: float = knob(0.0, min=0.0, max=1.0,
                                      source="memory-parameters.md §5.5: 0 for qualified macros; stress case 0.0904 (Chen et al., IEEE TC 2015 [L])")


class Reram(MemoryTechnology):
    name = "reram"
    Params = ReramParams

    def error_model(self) -> ErrorModel:
        p = self.params
        return ErrorModel.uniform_write(p.ber, stuck_at_0_fraction=p.stuck_at_0_fraction, stuck_at_1_fraction=p.stuck_at_1_fraction)


@memtech.hookimpl
def memtech_register_memories(register):
    register(Reram)

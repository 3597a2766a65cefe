"""ReRAM (1T1R HfOx/TaOx, single level per cell): dense, slow and costly to write, with stuck cells.

Writes are program-and-verify loops (§5.5): each iteration is a programming pulse plus a verify read and
succeeds with probability p_s, so at most N iterations leave ``(1 − p_s)^N`` of the bits wrong; a bit costs
``Σ_k (1 − p_s)^(k−1)`` iterations of energy on average, and an access lasts until its slowest bit is
verified. More iterations → lower write error, more energy and latency. Cells wear out after a log-normal
number of writes (median ``endurance_writes``) and are then stuck. Defaults: ``plugins/technology-reference.md``
§0, §4 and §5.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import memtech
from memtech import ErrorModel, MemoryParams, MemoryTechnology, knob
from memtech import physics

_SRC = "technology-reference.md §0 and §4, ReRAM 1T1R (SLC) column"
_WV = "[D] calibrated so that the write-verify loop reproduces §0's 1e-5 raw BER, 10 pJ/bit and 500 ns"


@dataclass(frozen=True)
class ReramParams(MemoryParams):
    capacity_mb: float = knob(1.0, unit="MB", min=0.0, min_exclusive=True, source="technology-reference.md §4 (1 MB arrays)")
    read_energy_pj_per_bit: float = knob(1.0, unit="pJ/bit", min=0.0, source=_SRC + ": silicon 1 pJ/bit (DOI 10.1109/ISSCC.2019.8662393)")
    write_energy_pj_per_bit: float | None = knob(None, unit="pJ/bit", min=0.0,
                                                 help="null: from the write-verify loop (§5.5); a number pins it")
    read_latency_ns: float = knob(10.0, unit="ns", min=0.0, min_exclusive=True, source=_SRC + ": 10 ns")
    write_latency_ns: float | None = knob(None, unit="ns", min=0.0, min_exclusive=True,
                                          help="null: from the write-verify loop (§5.5); a number pins it")
    leakage_mw_per_mb: float = knob(1.0, unit="mW/MB", min=0.0, source=_SRC + ": standby 1 mW/MB")
    area_mm2_per_mb: float = knob(0.23, unit="mm²/MB", min=0.0, source="technology-reference.md §6: ReRAM 22 nm 1 MB array 0.23 mm² (NVSim [D])")
    ber: float | None = knob(None, min=0.0, max=1.0,
                             help="raw write BER; null: (1 − p_s)^N from the write-verify knobs (1e-5 by default, §0)")
    write_pulse_success_probability: float = knob(0.9, min=0.0, max=1.0, min_exclusive=True, source=_WV)
    write_verify_max_pulses: int = knob(5, min=1, source=_WV + ": (1 − 0.9)^5 = 1e-5")
    write_pulse_energy_pj_per_bit: float = knob(8.0, unit="pJ/bit", min=0.0,
                                                source=_WV + ": (8 + 1) pJ × 1.111 mean iterations = 10 pJ/bit; "
                                                       "§4: ≈2 V·50 µA·100 ns per pulse")
    verify_energy_pj_per_bit: float = knob(1.0, unit="pJ/bit", min=0.0, source="technology-reference.md §0: a verify is a read, 1.0 pJ/bit")
    write_pulse_ns: float = knob(135.0, unit="ns", min=0.0, min_exclusive=True,
                                 source=_WV + ": 3.44 mean iterations of a 512-bit access × (135 + 10) ns = 500 ns; "
                                        "§4 SET/RESET 50 ns-1 µs")
    verify_ns: float = knob(10.0, unit="ns", min=0.0, min_exclusive=True, source="technology-reference.md §0: a verify is a read, 10 ns")
    endurance_writes: float = knob(1e5, min=0.0, source="technology-reference.md §0/§4: endurance 1e5 (survey span 1e4-1e9) [R]",
                                   help="median writes a cell survives before it is stuck; 0 disables wear-out")
    endurance_sigma_ln: float = knob(0.5, min=0.0, min_exclusive=True, source="assumption: no cited spread",
                                     help="log-space spread of cell endurance")
    stuck_at_0_fraction: float = knob(0.0, min=0.0, max=1.0,
                                      source="technology-reference.md §5.5: 0 for qualified macros; stress case 0.0175 (Chen et al., IEEE TC 2015 [L])")
    stuck_at_1_fraction: float = knob(0.0, min=0.0, max=1.0,
                                      source="technology-reference.md §5.5: 0 for qualified macros; stress case 0.0904 (Chen et al., IEEE TC 2015 [L])")


class Reram(MemoryTechnology):
    name = "reram"
    Params = ReramParams

    def write_ber(self) -> float:
        p = self.params
        if p.ber is not None:
            return p.ber
        return physics.write_verify_ber(p.write_pulse_success_probability, p.write_verify_max_pulses)

    def write_energy_j_per_bit(self) -> float:
        p = self.params
        if p.write_energy_pj_per_bit is not None:
            return p.write_energy_pj_per_bit * 1e-12
        iterations = physics.write_verify_expected_iterations(p.write_pulse_success_probability, p.write_verify_max_pulses)
        return iterations * (p.write_pulse_energy_pj_per_bit + p.verify_energy_pj_per_bit) * 1e-12

    def write_latency_s(self) -> float:
        p = self.params
        if p.write_latency_ns is not None:
            return p.write_latency_ns * 1e-9
        iterations = physics.write_verify_access_iterations(p.write_pulse_success_probability, p.write_verify_max_pulses,
                                                            p.access_width_bits)
        return iterations * (p.write_pulse_ns + p.verify_ns) * 1e-9

    def error_model(self) -> ErrorModel:
        p = self.params
        return ErrorModel.uniform_write(
            self.write_ber(), stuck_at_0_fraction=p.stuck_at_0_fraction, stuck_at_1_fraction=p.stuck_at_1_fraction,
            endurance_writes=p.endurance_writes, endurance_sigma_ln=p.endurance_sigma_ln)

    def derived_figures(self) -> dict[str, Any]:
        p = self.params
        out: dict[str, Any] = {
            "write_verify_mean_iterations_per_bit": physics.write_verify_expected_iterations(
                p.write_pulse_success_probability, p.write_verify_max_pulses),
            "write_verify_mean_iterations_per_access": physics.write_verify_access_iterations(
                p.write_pulse_success_probability, p.write_verify_max_pulses, p.access_width_bits),
        }
        if p.endurance_writes > 0:
            out["writes_until_1pct_cells_worn"] = physics.lognormal_writes_to_fraction(0.01, p.endurance_writes, p.endurance_sigma_ln)
        return out


@memtech.hookimpl
def memtech_register_memories(register):
    register(Reram)

"""STT-MRAM (1T1MTJ, perpendicular MTJ): cheap relaxed writes that fail to switch now and then.

The default is the relaxed, cache-grade cell (thermal stability Δ≈40) operated as error-prone memory, the
patent's first-phase memory. ``conf/memory/stt_mram_standard.yaml`` holds the retention-grade (Δ≈60) cell.
Defaults: ``../shared/memory-parameters.md`` §0, §2 and §5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import memtech
from memtech import ErrorModel, MemoryParams, MemoryTechnology, knob

_SRC = "memory-parameters.md §0, STT-MRAM relaxed Δ≈40 column"
ATTEMPT_TIME_S = 1e-9  # τ0 of the Néel–Brown law, memory-parameters.md §5.3


@dataclass(frozen=True)
class SttMramParams(MemoryParams):
    capacity_mb: float = knob(1.0, unit="MB", min=0.0, min_exclusive=True, source="memory-parameters.md §2.2 (1 MB arrays)")
    read_energy_pj_per_bit: float = knob(0.25, unit="pJ/bit", min=0.0, source=_SRC + " (silicon 0.2-1.2 pJ/bit)")
    write_energy_pj_per_bit: float = knob(0.5, unit="pJ/bit", min=0.0, source=_SRC + " (≈½ of Δ≈60's 2.0: I_c0 ∝ Δ, §5.2)")
    read_latency_ns: float = knob(4.0, unit="ns", min=0.0, min_exclusive=True, source=_SRC + " (DOI 10.1109/IEDM19573.2019.8993474)")
    write_latency_ns: float = knob(10.0, unit="ns", min=0.0, min_exclusive=True, source=_SRC)
    leakage_mw_per_mb: float = knob(1.0, unit="mW/MB", min=0.0, source=_SRC + " (periphery; ≈0 power-gated)")
    ber: float = knob(1e-5, min=0.0, max=1.0, source=_SRC + ": raw WER 1e-5",
                      help="write error rate per switching bit, both directions unless set separately")
    write_ber_0to1: float | None = knob(None, min=0.0, max=1.0, help="failure rate of 0->1 switches (default: ber)")
    write_ber_1to0: float | None = knob(None, min=0.0, max=1.0, help="failure rate of 1->0 switches (default: ber)")
    write_error_mode: str = knob("switch", choices=("switch", "any"),
                                 help="switch: only bits that change can fail (physical); any: every written bit can flip")
    read_disturb_ber: float = knob(0.0, min=0.0, max=1.0,
                                   source="memory-parameters.md §5.4: <1e-12/read for Δ≈60; Δ≈40 at I_read/I_c0=0.3: 1.4e-12 (b=1)")
    read_sense_ber: float = knob(0.0, min=0.0, max=1.0, help="sensing errors that corrupt only the value read")
    thermal_stability: float = knob(40.0, min=0.0, source="memory-parameters.md §0: relaxed cell Δ≈40 (retention 1-10 s @110-125 °C)")


class SttMram(MemoryTechnology):
    name = "stt_mram"
    Params = SttMramParams

    def error_model(self) -> ErrorModel:
        p = self.params
        w01 = p.ber if p.write_ber_0to1 is None else p.write_ber_0to1
        w10 = p.ber if p.write_ber_1to0 is None else p.write_ber_1to0
        # Néel–Brown (§5.3): each stored bit flips at rate exp(-Δ)/τ0, in either direction.
        retention_rate = math.exp(-p.thermal_stability) / ATTEMPT_TIME_S
        return ErrorModel(
            write_ber_0to1=w01,
            write_ber_1to0=w10,
            write_ber_hold=0.0 if p.write_error_mode == "switch" else max(w01, w10),
            read_sense_ber=p.read_sense_ber,
            read_disturb_ber=p.read_disturb_ber,
            retention_rate_0to1_per_s=retention_rate,
            retention_rate_1to0_per_s=retention_rate,
        )


@memtech.hookimpl
def memtech_register_memories(register):
    register(SttMram)

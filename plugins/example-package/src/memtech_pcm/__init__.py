"""Phase-change memory (PCM) for memtech: slow, costly writes that fail now and then; cheap reads.

An example of a memory-technology plugin in a package of its own. Every default has its unit in its name
and its source in ``knob(source=...)``; the figures are illustrative, not a device's.
"""

from __future__ import annotations

from dataclasses import dataclass

import memtech
from memtech import ErrorModel, MemoryParams, MemoryTechnology, knob

__version__ = "0.1.0"

_EXAMPLE = "illustrative figure of this example plugin, not a measured device"


@dataclass(frozen=True)
class PcmParams(MemoryParams):
    read_energy_pj_per_bit: float = knob(2.0, unit="pJ/bit", min=0.0, source=_EXAMPLE)
    write_energy_pj_per_bit: float = knob(20.0, unit="pJ/bit", min=0.0, source=_EXAMPLE)
    read_latency_ns: float = knob(50.0, unit="ns", min=0.0, min_exclusive=True, source=_EXAMPLE)
    write_latency_ns: float = knob(150.0, unit="ns", min=0.0, min_exclusive=True, source=_EXAMPLE)
    leakage_mw_per_mb: float = knob(0.0, unit="mW/MB", min=0.0, source="non-volatile cells: no array leakage (assumption)")
    area_mm2_per_mb: float = knob(0.3, unit="mm²/MB", min=0.0, source=_EXAMPLE)
    ber: float = knob(1e-6, min=0.0, max=1.0, source=_EXAMPLE, help="probability that a written bit ends up flipped")


class Pcm(MemoryTechnology):
    name = "pcm"
    version = __version__
    Params = PcmParams

    def error_model(self) -> ErrorModel:
        return ErrorModel.uniform_write(self.params.ber)


@memtech.hookimpl
def memtech_register_memories(register):
    register(Pcm)

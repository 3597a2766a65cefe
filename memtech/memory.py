"""The memory-technology contract: an error model, a latency model and an energy model.

A memory plugin subclasses :class:`MemoryTechnology`, declares its knobs as a dataclass deriving from
:class:`MemoryParams` (every number with its unit in the name and its source in ``knob(source=...)``), and
implements ``error_model()``. The latency and energy models have defaults built from the standard knobs
(read/write energy and latency, leakage); a technology whose write cost follows from physics overrides only
``write_latency_s()`` / ``write_energy_j_per_bit()``, one with other terms (refresh, voltage scaling) overrides
the model itself. The core works in SI units (joules, seconds, watts); plugins convert from the pJ/ns/mW
units users write in configs.

See ``plugins/sram.py`` for the smallest complete example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from memtech import params as _params
from memtech.params import knob

BITS_PER_MB = 8 * 2**20  # 1 MB = 2^23 bit, as in technology-reference.md "Units"
PROTECTIONS = ("none", "parity", "secded", "sanity")
STORAGE_FORMATS = ("float32", "float16", "bfloat16", "int8")


@dataclass(frozen=True)
class WeakCellModel:
    """A technology's weak cells (memtech.storage.weak_cells): their share of the array and their own rates (per bit;
    rates per second)."""

    fraction: float = 0.0  # share of the array's cells that are weak
    write_ber_0to1: float = 0.0
    write_ber_1to0: float = 0.0
    write_ber_hold: float = 0.0
    retention_rate_per_s: float = 0.0  # either direction

    @property
    def active(self) -> bool:
        return self.fraction > 0.0


@dataclass(frozen=True)
class ErrorModel:
    """Per-bit error probabilities, one per physical event.

    Write errors distinguish the bit's transition: ``write_ber_0to1`` is the probability that a cell that must
    switch from 0 to 1 fails to switch (and likewise ``1to0``); ``write_ber_hold`` is the probability that a
    cell written with its current value ends up flipped (0 for STT-MRAM, where only switching cells can fail).
    """

    write_ber_0to1: float = 0.0
    write_ber_1to0: float = 0.0
    write_ber_hold: float = 0.0
    read_sense_ber: float = 0.0  # corrupts only the value read, per bit per read
    read_disturb_ber: float = 0.0  # flips the stored cell, per bit per read
    retention_rate_0to1_per_s: float = 0.0  # hazard rate of a stored 0 turning into 1
    retention_rate_1to0_per_s: float = 0.0
    stuck_at_0_fraction: float = 0.0  # persistent map drawn once per array
    stuck_at_1_fraction: float = 0.0
    # Wear-out: each cell survives a log-normal number of writes (median ``endurance_writes``, log-space
    # standard deviation ``endurance_sigma_ln``) and is stuck from then on; 0 disables wear-out.
    endurance_writes: float = 0.0
    endurance_sigma_ln: float = 0.5  # assumption (no cited spread): lifetimes within ~e^±1 of the median for 95 % of cells
    wearout_stuck_at_1_fraction: float = 0.5  # assumption: a worn-out cell is stuck at either value alike
    weak_cells: WeakCellModel | None = None  # persistent weak cells with their own rates (memtech.storage.weak_cells)

    @classmethod
    def uniform_write(cls, ber: float, **others: float) -> "ErrorModel":
        """Every written bit flips with probability ``ber`` whatever its transition."""
        return cls(write_ber_0to1=ber, write_ber_1to0=ber, write_ber_hold=ber, **others)

    @property
    def is_error_free(self) -> bool:
        # The wear-out shape parameters describe failures only once endurance_writes enables them.
        shape = ("endurance_sigma_ln", "wearout_stuck_at_1_fraction", "weak_cells")
        weak_error_free = self.weak_cells is None or not self.weak_cells.active or (
            self.weak_cells.write_ber_0to1 == self.weak_cells.write_ber_1to0 == self.weak_cells.write_ber_hold
            == self.weak_cells.retention_rate_per_s == 0.0)
        return weak_error_free and all(v == 0.0 for k, v in self.__dict__.items() if k not in shape)


@dataclass(frozen=True)
class LatencyModel:
    """Time of one access of ``access_width_bits`` bits; ``banks`` accesses proceed in parallel.

    Banking assumption: a tensor of n bits is moved as ceil(n / access_width_bits) accesses spread evenly
    over ``banks`` independent banks, so it takes ceil(accesses / banks) access times; reads and writes do
    not overlap each other or compute (a conservative, in-order processor). An off-chip memory adds
    ``transfer_s_per_bit`` for every bit crossing the link, which is not banked (one link). Simulated time
    per iteration = these access times + compute time (``processor.compute_ns_per_mac`` × MACs), and
    leakage and refresh are charged over that simulated time, so a faster memory leaks for less time.
    """

    read_s_per_access: float
    write_s_per_access: float
    access_width_bits: int = 512
    banks: int = 1
    transfer_s_per_bit: float = 0.0  # off-chip link time per bit moved (0 on chip)

    def read_time_s(self, n_bits: int) -> float:
        accesses = math.ceil(n_bits / self.access_width_bits)
        return math.ceil(accesses / self.banks) * self.read_s_per_access + n_bits * self.transfer_s_per_bit

    def write_time_s(self, n_bits: int) -> float:
        accesses = math.ceil(n_bits / self.access_width_bits)
        return math.ceil(accesses / self.banks) * self.write_s_per_access + n_bits * self.transfer_s_per_bit


@dataclass(frozen=True)
class EnergyModel:
    """Dynamic energy per bit accessed and static power per bit of capacity."""

    read_j_per_bit: float
    write_j_per_bit: float
    leakage_w_per_bit: float = 0.0
    refresh_w_per_bit: float = 0.0
    transfer_j_per_bit: float = 0.0  # off-chip interconnect energy per bit moved (0 on chip)


@dataclass(frozen=True)
class MemoryParams:
    """Knobs every memory has. Technology plugins derive their own parameter dataclass from this one."""

    technology: str = knob("", help="name of the memory-technology plugin")
    capacity_mb: float = knob(8.0, unit="MB", min=0.0, min_exclusive=True,
                              source="technology-reference.md scope: on-chip buffers of 1-8 MB")
    on_chip: bool = knob(True, help="false adds interconnect energy and latency per bit moved")
    offchip_transfer_energy_pj_per_bit: float = knob(
        4.0, unit="pJ/bit", min=0.0,
        source="technology-reference.md §3.2: DDR4 I/O adds ~2-5 pJ/bit over core energy (assumption, upper half)")
    offchip_transfer_latency_ns_per_bit: float = knob(
        0.0052, unit="ns/bit", min=0.0,
        source="DDR4-2400 x8 device: 2400 MT/s x 8 bit = 19.2 Gbit/s -> 0.052 ns/bit; x10 devices per rank (assumption)")
    protection: str = knob("none", choices=PROTECTIONS, help="per-word protection code applied on every read")
    storage_format: str = knob("float32", choices=STORAGE_FORMATS, help="bit format the tensors are stored in")
    sanity_bound: float = knob(1e4, min=0.0, min_exclusive=True,
                               source="memtech's choice: trained weights stay orders below it, while a flipped "
                                      "float32 exponent bit makes values near 1e38",
                               help="with protection=sanity, values larger in magnitude are zeroed")
    # The array's access figures. Each technology overrides these defaults with its own cited values.
    read_energy_pj_per_bit: float = knob(0.0, unit="pJ/bit", min=0.0)
    write_energy_pj_per_bit: float = knob(0.0, unit="pJ/bit", min=0.0)
    read_latency_ns: float = knob(1.0, unit="ns", min=0.0, min_exclusive=True)
    write_latency_ns: float = knob(1.0, unit="ns", min=0.0, min_exclusive=True)
    leakage_mw_per_mb: float = knob(0.0, unit="mW/MB", min=0.0)
    access_width_bits: int = knob(512, unit="bit", min=1, source="technology-reference.md §6: WordWidth 512")
    banks: int = knob(1, min=1, source="assumption: one bank", help="accesses served in parallel")
    area_mm2_per_mb: float = knob(0.0, unit="mm²/MB", min=0.0,
                                  help="silicon area of the array per MB on the processor's die (0: not counted)")


class MemoryTechnology:
    """Base class of memory-technology plugins.

    Subclasses set ``name`` and ``Params`` and implement the three models. ``describe()`` is used by
    ``memtech describe`` and is logged with every run.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[MemoryParams]] = MemoryParams
    version: ClassVar[str | None] = None

    def __init__(self, params: MemoryParams | None = None):
        self.params = params if params is not None else self.Params(technology=self.name)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], key: str) -> "MemoryTechnology":
        """Validate ``config`` against ``Params`` (``key`` names it in errors) and build the technology."""
        technology = cls(_params.build(cls.Params, {"technology": cls.name, **dict(config)}, key))
        technology.validate(key)
        return technology

    def validate(self, key: str) -> None:
        """Check combinations of knobs that single-knob ranges cannot; raise ConfigError naming ``key.<knob>``."""

    # --- the three models -------------------------------------------------------------------------
    def error_model(self) -> ErrorModel:
        raise NotImplementedError

    def latency_model(self) -> LatencyModel:
        """Default: the params' access latencies, plus off-chip link time when ``on_chip`` is false."""
        p = self.params
        return LatencyModel(p.read_latency_ns * 1e-9, self.write_latency_s(), p.access_width_bits, p.banks,
                            self.offchip_latency_s_per_bit())

    def energy_model(self) -> EnergyModel:
        """Default: the params' per-bit energies and leakage, plus off-chip transfer energy."""
        p = self.params
        return EnergyModel(
            read_j_per_bit=p.read_energy_pj_per_bit * 1e-12,
            write_j_per_bit=self.write_energy_j_per_bit(),
            leakage_w_per_bit=p.leakage_mw_per_mb * 1e-3 / BITS_PER_MB,
            transfer_j_per_bit=self.offchip_energy_j_per_bit(),
        )

    # A technology whose write cost follows from physics overrides these two; the models above use them.
    def write_latency_s(self) -> float:
        return self.params.write_latency_ns * 1e-9

    def write_energy_j_per_bit(self) -> float:
        return self.params.write_energy_pj_per_bit * 1e-12

    # --- shared helpers -----------------------------------------------------------------------------
    def offchip_energy_j_per_bit(self) -> float:
        return 0.0 if self.params.on_chip else self.params.offchip_transfer_energy_pj_per_bit * 1e-12

    def offchip_latency_s_per_bit(self) -> float:
        return 0.0 if self.params.on_chip else self.params.offchip_transfer_latency_ns_per_bit * 1e-9

    @property
    def capacity_bits(self) -> int:
        return int(self.params.capacity_mb * BITS_PER_MB)

    @property
    def area_mm2(self) -> float:
        """Silicon area of this memory instance: capacity × area per MB."""
        return self.params.capacity_mb * self.params.area_mm2_per_mb

    def derived_figures(self) -> dict[str, Any]:
        """Technology-specific figures for the model card (solved pulse widths, retention, ...)."""
        return {}

    def _parameter_rows(self) -> list[dict[str, Any]]:
        """Parameter rows; a value that differs from the plugin default does not claim the default's source."""
        defaults = self.Params(technology=self.name)
        rows = _params.describe(self.params)
        for row in rows:
            default = getattr(defaults, row["key"])
            if row["key"] != "technology" and row["value"] != default:
                row["source"] = f"configured (default {default!r}" + (f": {row['source']})" if row["source"] else ")")
        return rows

    def describe(self) -> dict[str, Any]:
        """A model card: every parameter with unit and source, and the derived figures at these settings."""
        energy, latency, errors = self.energy_model(), self.latency_model(), self.error_model()
        return {
            "technology": self.name,
            "parameters": self._parameter_rows(),
            "derived": {
                "read_energy_pj_per_bit": energy.read_j_per_bit * 1e12,
                "write_energy_pj_per_bit": energy.write_j_per_bit * 1e12,
                "leakage_mw_per_mb": energy.leakage_w_per_bit * BITS_PER_MB * 1e3,
                "refresh_mw_per_mb": energy.refresh_w_per_bit * BITS_PER_MB * 1e3,
                "transfer_energy_pj_per_bit": energy.transfer_j_per_bit * 1e12,
                "read_latency_ns": latency.read_s_per_access * 1e9,
                "write_latency_ns": latency.write_s_per_access * 1e9,
                "access_width_bits": latency.access_width_bits,
                "banks": latency.banks,
                "transfer_latency_ns_per_bit": latency.transfer_s_per_bit * 1e9,
                "capacity_mb": self.params.capacity_mb,
                "area_mm2": self.area_mm2,
                "on_chip": self.params.on_chip,
                **{k: v for k, v in errors.__dict__.items()},
                **self.derived_figures(),
            },
        }


# ErrorModel fields that are probabilities (per bit, per event or a fraction of cells); the others are
# non-negative rates or counts.
_PROBABILITY_FIELDS = ("write_ber_0to1", "write_ber_1to0", "write_ber_hold", "read_sense_ber", "read_disturb_ber",
                       "stuck_at_0_fraction", "stuck_at_1_fraction", "wearout_stuck_at_1_fraction",
                       "weak_cells.fraction", "weak_cells.write_ber_0to1", "weak_cells.write_ber_1to0",
                       "weak_cells.write_ber_hold")


def check_models(technology: MemoryTechnology, where: str, plugin: str) -> None:
    """Build the technology's three models once and check what they return, so that a plugin bug (a BER of
    1.7, a negative energy, a model of the wrong type, a model that raises) is an error naming the plugin,
    the model, the field and the value before any work, not a traceback at the first write or a run that
    finishes with meaningless energy. ``where`` is the config key (memories.<name>), ``plugin`` its origin."""
    from memtech.errors import PluginError

    def refuse(problem: str) -> PluginError:
        return PluginError(f"memory plugin {technology.name!r} ({plugin}), configured at {where}: {problem}")

    expected_types = {"error_model": ErrorModel, "latency_model": LatencyModel, "energy_model": EnergyModel}
    for method, expected_type in expected_types.items():
        try:
            model = getattr(technology, method)()
        except Exception as exc:  # noqa: BLE001 - a plugin's model may raise anything
            raise refuse(f"{method}() raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(model, expected_type):
            raise refuse(f"{method}() must return a memtech.{expected_type.__name__}, got {type(model).__name__}")
        fields = dict(model.__dict__)
        weak = fields.pop("weak_cells", None)
        if weak is not None:
            if not isinstance(weak, WeakCellModel):
                raise refuse(f"{method}().weak_cells must be a memtech.memory.WeakCellModel or None, got {weak!r}")
            fields.update({f"weak_cells.{k}": v for k, v in weak.__dict__.items()})
        for field_name, value in fields.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise refuse(f"{method}().{field_name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise refuse(f"{method}().{field_name} must be a finite number >= 0, got {value!r}")
            if method == "error_model" and field_name in _PROBABILITY_FIELDS and value > 1:
                raise refuse(f"{method}().{field_name} must be a probability in [0, 1], got {value!r}")
        if isinstance(model, LatencyModel):
            for field_name in ("access_width_bits", "banks"):
                count = getattr(model, field_name)
                if not isinstance(count, int) or count < 1:
                    raise refuse(f"latency_model().{field_name} must be an integer >= 1, got {count!r}")

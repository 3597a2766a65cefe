"""What a run returns: metrics per epoch, accounting per memory and phase, and the trained values.

Saved results load without pickle: ``model.npz`` holds the trained values, ``result.json`` the rest.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from memtech.errors import ConfigError


@dataclass
class EpochRecord:
    """Test metrics after one epoch, with the phase, cumulative energy and simulated time at its end."""

    epoch: int
    iteration: int
    phase: str
    train_loss: float
    test_loss: float
    test_accuracy: float
    energy_j: float  # cumulative dynamic + static energy so far
    sim_time_s: float


@dataclass
class MemoryPhaseTotals:
    """Accounting of one memory during one phase (SI units)."""

    memory: str
    phase: str
    technology: str
    bits_read: int
    bits_written: int
    read_energy_j: float
    write_energy_j: float
    transfer_energy_j: float
    leakage_energy_j: float
    refresh_energy_j: float
    read_time_s: float
    write_time_s: float
    occupied_time_s: float
    flips: dict[str, int]
    flips_by_field: dict[str, int]
    errors_detected: int
    errors_corrected: int
    values_zeroed: int
    # flips per codeword bit (0 = least significant; data bits first, then check bits), flipped bits only
    flips_by_bit: dict[int, int] = field(default_factory=dict)
    cells_worn_out: int = 0  # cells that reached their write endurance in this phase and are stuck since
    layer: str = ""  # with a per-layer placement: the row of one layer's weights and biases ("layer0", ...)

    @property
    def dynamic_energy_j(self) -> float:
        return self.read_energy_j + self.write_energy_j + self.transfer_energy_j

    @property
    def static_energy_j(self) -> float:
        return self.leakage_energy_j + self.refresh_energy_j

    @property
    def energy_j(self) -> float:
        return self.dynamic_energy_j + self.static_energy_j

    @property
    def latency_s(self) -> float:
        return self.read_time_s + self.write_time_s

    @property
    def total_flips(self) -> int:
        return sum(self.flips.values())


@dataclass
class RunResult:
    """Everything a run returns: per-epoch metrics, accounting per memory and phase, the trained values."""

    config: dict[str, Any]
    epochs: list[EpochRecord]
    accounting: list[MemoryPhaseTotals]
    final_test_accuracy: float
    final_test_loss: float
    iterations: int
    sim_time_s: float
    compute_time_s: float
    diverged: bool = False
    diverged_at_iteration: int | None = None
    planned_iterations: int | None = None  # what the run would have trained had it not diverged
    values: dict[str, np.ndarray] = field(default_factory=dict)  # trained weights and biases, flat
    model: dict[str, Any] = field(default_factory=dict)  # what predict needs to rebuild the network
    plugins: dict[str, str] = field(default_factory=dict)  # component -> version
    memory_cards: dict[str, Any] = field(default_factory=dict)
    # with a per-layer placement: each layer's share of ``accounting`` (its weights and biases), per memory and phase
    layer_accounting: list[MemoryPhaseTotals] = field(default_factory=list)

    @property
    def total_energy_j(self) -> float:
        return sum(row.energy_j for row in self.accounting)

    def energy_by(self, key: str) -> dict[str, float]:
        """Total energy grouped by ``memory`` or ``phase``."""
        totals: dict[str, float] = {}
        for row in self.accounting:
            name = getattr(row, key)
            totals[name] = totals.get(name, 0.0) + row.energy_j
        return totals

    def flips_by_field(self) -> dict[str, float]:
        """Flips of every memory and phase per field of the stored format, as ``flips.<field>`` metrics.

        Fields are those the formats name (sign, exponent, mantissa; int8: sign, value) and ``check`` for
        check bits; a field of a stored format that never flipped is reported as 0.
        """
        totals: dict[str, float] = {}
        for row in self.accounting:
            for name, count in row.flips_by_field.items():
                totals[f"flips.{name}"] = totals.get(f"flips.{name}", 0.0) + float(count)
        return totals

    def area_by_memory(self) -> dict[str, float]:
        """Silicon area (mm²) of each configured memory, from its model card."""
        return {name: float(card["derived"]["area_mm2"]) for name, card in self.memory_cards.items()
                if isinstance(card, dict) and "area_mm2" in card.get("derived", {})}

    def metrics(self) -> dict[str, float]:
        """A flat dict of final metrics, named as they are logged to MLflow."""
        out: dict[str, float] = {
            "test_accuracy": self.final_test_accuracy,
            "test_loss": self.final_test_loss,
            "energy_j": self.total_energy_j,
            "dynamic_energy_j": sum(r.dynamic_energy_j for r in self.accounting),
            "static_energy_j": sum(r.static_energy_j for r in self.accounting),
            "sim_time_s": self.sim_time_s,
            "memory_latency_s": sum(r.latency_s for r in self.accounting),
            "flips": float(sum(r.total_flips for r in self.accounting)),
            "errors_detected": float(sum(r.errors_detected for r in self.accounting)),
            "errors_corrected": float(sum(r.errors_corrected for r in self.accounting)),
            "values_zeroed": float(sum(r.values_zeroed for r in self.accounting)),
            "diverged": float(self.diverged),
            "iterations": float(self.iterations),
        }
        for row in self.accounting:
            prefix = f"{row.memory}.{row.phase}"
            out[f"{prefix}.energy_j"] = row.energy_j
            out[f"{prefix}.dynamic_energy_j"] = row.dynamic_energy_j
            out[f"{prefix}.write_energy_j"] = row.write_energy_j  # what relaxed MRAM writes save
            out[f"{prefix}.static_energy_j"] = row.static_energy_j
            out[f"{prefix}.latency_s"] = row.latency_s
            out[f"{prefix}.bits_read"] = float(row.bits_read)
            out[f"{prefix}.bits_written"] = float(row.bits_written)
            out[f"{prefix}.flips"] = float(row.total_flips)
            out[f"{prefix}.errors_detected"] = float(row.errors_detected)
            out[f"{prefix}.values_zeroed"] = float(row.values_zeroed)
            out[f"{prefix}.cells_worn_out"] = float(row.cells_worn_out)
        for row in self.layer_accounting:
            prefix = f"{row.layer}.{row.memory}.{row.phase}"
            out[f"{prefix}.energy_j"] = row.energy_j
            out[f"{prefix}.write_energy_j"] = row.write_energy_j
            out[f"{prefix}.bits_written"] = float(row.bits_written)
            out[f"{prefix}.flips"] = float(row.total_flips)
            out[f"{prefix}.values_zeroed"] = float(row.values_zeroed)
        out["cells_worn_out"] = float(sum(row.cells_worn_out for row in self.accounting))
        out.update(self.flips_by_field())
        areas = self.area_by_memory()
        for name, area in areas.items():
            out[f"{name}.area_mm2"] = area
        if areas:
            # the die area of the memories the run used: a memory configured but holding nothing (memories.mram
            # of an all-SRAM run) is not built, so all-SRAM against a hybrid shows what MRAM's density changes
            used = {row.memory for row in self.accounting if row.bits_read or row.bits_written}
            out["area_mm2"] = sum(area for name, area in areas.items() if name in used)
        for name, energy in self.energy_by("memory").items():
            out[f"{name}.energy_j"] = energy
        for name, energy in self.energy_by("phase").items():
            out[f"phase.{name}.energy_j"] = energy
        return out

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("values")
        data["metrics"] = self.metrics()
        return data

    def save(self, directory: str | Path) -> Path:
        """Write ``model.npz`` (trained values, no pickle) and ``result.json`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_model(directory / "model.npz", self.values, self.model)
        (directory / "result.json").write_text(json.dumps(self.to_json(), indent=2, default=float))
        return directory


def save_model(path: Path, values: dict[str, np.ndarray], model: dict[str, Any]) -> None:
    arrays = {f"values/{role}": np.asarray(v) for role, v in values.items()}
    arrays["model_json"] = np.array(json.dumps(model))
    np.savez(path, **arrays)


MODEL_EXPECTED = "a model.npz as memtech-run saves it (a run's output folder holds one)"


def load_model_file(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(stored values by role, the model description); a ConfigError naming ``model`` for a file that is not
    a complete model.npz (garbage, truncated, another .npz)."""
    from memtech.datafiles import read_npz

    arrays = read_npz(path, "model", MODEL_EXPECTED)
    values = {key.split("/", 1)[1]: array for key, array in arrays.items() if key.startswith("values/")}
    try:
        model = json.loads(str(arrays["model_json"]))
        missing = [k for k in ("trainer", "trainer_params", "n_features", "n_classes") if k not in model]
    except (KeyError, ValueError):
        missing = ["model_json"]
    if missing or not values:
        raise ConfigError("model", str(path), f"{MODEL_EXPECTED} (it lacks {', '.join(missing) or 'the stored values'})")
    return values, model

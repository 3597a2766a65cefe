"""Hybrid schedules: an ordered list of phases, each with its share of the iterations and its placement.

A placement maps each tensor role (weights, biases, activations, optimizer) to a memory by the name the run
gives it (``memories.mram``, ``memories.sram`` ...). A phase may leave out its ``fraction`` when it is the
last one: it then takes what the others leave. ``first_fraction`` (two-phase schedules) sets the share of
the first phase, e.g. the patent's 0.2/0.4/0.6/0.8/0.95.

Built-in schedules (``all_sram``, ``all_mram``, ``mram_then_sram``) are named without phases:
``{"name": "mram_then_sram", "first_fraction": 0.6}``; they place roles in memories named ``mram`` and ``sram``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from memtech.errors import ConfigError
from memtech.storage import ROLES

_TOLERANCE = 1e-9
PATENT_FIRST_FRACTIONS = (0.2, 0.4, 0.6, 0.8, 0.95)  # first-phase shares the 2018 MRAM patent names
BUILTIN_SCHEDULES = ("all_sram", "all_mram", "mram_then_sram")


def builtin_phases(name: str, mram: str = "mram", sram: str = "sram", first_fraction: float = 0.8) -> list[dict[str, Any]]:
    """The phases of a built-in schedule, as config mappings, for memories named ``mram`` and ``sram``.

    As in ``conf/schedule/*.yaml``: only weights and biases ever live in MRAM (the patent's first phase);
    activations and optimizer state stay in SRAM, being rewritten every step.
    """
    in_sram = {role: sram for role in ROLES}
    in_mram = {**in_sram, "weights": mram, "biases": mram}
    if name == "all_sram":
        return [{"name": "sram", "fraction": 1.0, "placement": in_sram}]
    if name == "all_mram":
        return [{"name": "mram", "fraction": 1.0, "placement": in_mram}]
    if name == "mram_then_sram":
        return [
            {"name": "mram", "fraction": first_fraction, "placement": in_mram},
            {"name": "sram", "fraction": 1.0 - first_fraction, "placement": in_sram},
        ]
    raise ConfigError("schedule.name", name, "one of the built-in schedules (" + ", ".join(BUILTIN_SCHEDULES) + ") when no phases are given")


def _layer_placement(raw: Any, key: str, memory_names: list[str]) -> dict[str, tuple[int, ...]]:
    """``layers: {memory: [indices]}`` checked: known memories, integer indices, no layer in two memories.
    Whether the indices exist is checked against the network once it is built."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(key, raw, "a mapping from memory name to a list of layer indices, e.g. {sram: [0, -1]}")
    out: dict[str, tuple[int, ...]] = {}
    seen: dict[int, str] = {}
    for memory, indices in raw.items():
        if memory not in memory_names:
            raise ConfigError(f"{key}.{memory}", indices, "the name of a configured memory (one of " + ", ".join(memory_names) + ")")
        if isinstance(indices, (int, bool)) or not isinstance(indices, Sequence) or isinstance(indices, str):
            raise ConfigError(f"{key}.{memory}", indices, "a list of layer indices (integers), e.g. [0, -1]")
        for index in indices:
            if isinstance(index, bool) or not isinstance(index, int):
                raise ConfigError(f"{key}.{memory}", list(indices), "a list of layer indices (integers), e.g. [0, -1]")
            if index in seen and seen[index] != memory:
                raise ConfigError(f"{key}.{memory}", list(indices), f"layers not placed twice (layer {index} is in {seen[index]} too)")
            seen[index] = memory
        out[str(memory)] = tuple(int(i) for i in indices)
    return out


@dataclass(frozen=True)
class Phase:
    name: str
    fraction: float
    # role -> memory name; optionally "layers": {memory: [parameter-layer indices]}, whose weights and biases
    # go to that memory instead (negative indices count from the last layer)
    placement: Mapping[str, Any]

    def memories(self) -> set[str]:
        roles = {memory for role, memory in self.placement.items() if role != "layers"}
        return roles | set(self.placement.get("layers") or {})


@dataclass(frozen=True)
class Schedule:
    name: str
    phases: tuple[Phase, ...]

    def iteration_bounds(self, total_iterations: int) -> list[tuple[Phase, int, int]]:
        """(phase, first iteration, end iteration) for each phase; ends are rounded cumulative shares."""
        bounds, cumulative, start = [], 0.0, 0
        for i, phase in enumerate(self.phases):
            cumulative += phase.fraction
            end = total_iterations if i == len(self.phases) - 1 else round(cumulative * total_iterations)
            bounds.append((phase, start, end))
            start = end
        return bounds

    def memories(self) -> set[str]:
        return {memory for phase in self.phases for memory in phase.memories()}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], memory_names: Iterable[str], key: str = "schedule") -> "Schedule":
        memory_names = sorted(memory_names)
        config = dict(config)
        allowed = {"name", "phases", "first_fraction"}
        for k in config:
            if k not in allowed:
                raise ConfigError(f"{key}.{k}", config[k], "a known key (one of " + ", ".join(sorted(allowed)) + ")")
        raw_phases = config.get("phases")
        if raw_phases is None and "name" in config:
            # A built-in schedule by name; first_fraction (validated below) sets its first share.
            builtin = config["name"]
            if builtin not in BUILTIN_SCHEDULES:
                raise ConfigError(f"{key}.name", builtin, "one of the built-in schedules (" + ", ".join(BUILTIN_SCHEDULES) + ") when no phases are given")
            raw_phases = builtin_phases(builtin)
            if builtin != "mram_then_sram" and config.get("first_fraction") is not None:
                raise ConfigError(f"{key}.first_fraction", config["first_fraction"], "used only with a two-phase schedule (mram_then_sram)")
        if not isinstance(raw_phases, (list, tuple)) or not raw_phases:
            raise ConfigError(f"{key}.phases", raw_phases, "a non-empty list of phases")
        first = config.get("first_fraction")
        if first is not None:
            if isinstance(first, bool) or not isinstance(first, (int, float)) or not 0.0 < first < 1.0:
                raise ConfigError(f"{key}.first_fraction", first, "a number in (0, 1)")
            if len(raw_phases) != 2:
                raise ConfigError(f"{key}.first_fraction", first, "used only with a two-phase schedule")

        phases, total = [], 0.0
        for i, raw in enumerate(raw_phases):
            pkey = f"{key}.phases[{i}]"
            if not isinstance(raw, Mapping):
                raise ConfigError(pkey, raw, "a mapping with name, fraction and placement")
            extra = set(raw) - {"name", "fraction", "placement"}
            if extra:
                k = sorted(extra)[0]
                raise ConfigError(f"{pkey}.{k}", raw[k], "a known key (one of fraction, name, placement)")
            name = raw.get("name", f"phase{i}")
            fraction = raw.get("fraction")
            if first is not None:
                fraction = first if i == 0 else 1.0 - first
            if fraction is None:
                if i != len(raw_phases) - 1:
                    raise ConfigError(f"{pkey}.fraction", None, "a number in (0, 1] (only the last phase may omit it)")
                fraction = 1.0 - total
            if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction <= 1.0 + _TOLERANCE:
                raise ConfigError(f"{pkey}.fraction", fraction, "a number in (0, 1]")
            total += float(fraction)
            placement = raw.get("placement")
            if not isinstance(placement, Mapping):
                raise ConfigError(f"{pkey}.placement", placement, "a mapping from tensor role to memory name")
            placement = dict(placement)
            if "layers" in placement:
                placement["layers"] = _layer_placement(placement["layers"], f"{pkey}.placement.layers", memory_names)
            for role, memory in placement.items():
                if role == "layers":
                    continue
                if role not in ROLES:
                    raise ConfigError(f"{pkey}.placement.{role}", memory,
                                      "placed by a known role (one of " + ", ".join(ROLES) + ") or layers")
                if memory not in memory_names:
                    raise ConfigError(
                        f"{pkey}.placement.{role}", memory, "the name of a configured memory (one of " + ", ".join(memory_names) + ")"
                    )
            missing = [role for role in ROLES if role not in placement]
            if missing:
                raise ConfigError(f"{pkey}.placement.{missing[0]}", None, "the name of a configured memory (every role needs one)")
            phases.append(Phase(str(name), float(fraction), placement))
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(f"{key}.phases", [p.fraction for p in phases], "fractions that add up to 1")
        names = [p.name for p in phases]
        if len(set(names)) != len(names):
            raise ConfigError(f"{key}.phases", names, "phases with distinct names")
        return cls(str(config.get("name", "custom")), tuple(phases))

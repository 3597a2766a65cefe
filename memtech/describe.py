"""Model cards: every parameter of a memory with its unit, value and source, and the derived figures.

``memtech describe NAME`` accepts a technology name (``stt_mram``: the plugin's defaults) or a preset in
the shipped ``conf/memory`` group (``stt_mram_standard``, ``ddr4``, ...: its values on top of the plugin's
defaults), then ``key=value`` overrides. The same card is logged with every run (RunResult.memory_cards).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from memtech.errors import ConfigError
from memtech.plugins import get_registry


def _parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    import yaml

    out = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError("override", item, "key=value")
        key, value = item.split("=", 1)
        out[key] = yaml.safe_load(value)
    return out


def memory_presets_dir() -> Path | None:
    """The ``memory`` config group of the shipped configs (package ``memtech_conf``), if installed."""
    try:
        import memtech_conf
    except ImportError:
        return None
    folder = Path(memtech_conf.__file__).parent / "memory"
    return folder if folder.is_dir() else None


def memory_presets() -> dict[str, Path]:
    folder = memory_presets_dir()
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder else {}


def load_preset(name: str) -> dict[str, Any]:
    """The knob values of ``conf/memory/<name>.yaml`` (a mapping with a ``technology`` key)."""
    import yaml

    presets = memory_presets()
    if name not in presets:
        raise ConfigError("memory", name, "a conf/memory preset (one of " + ", ".join(presets) + ")")
    data = yaml.safe_load(presets[name].read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or "technology" not in data:
        raise ConfigError(f"conf/memory/{name}.yaml", data, "a mapping with a 'technology' key")
    return data


def preset_sources(name: str) -> dict[str, str]:
    """The trailing ``# comment`` of each ``key: value`` line of a preset: the source of that value."""
    import re

    presets = memory_presets()
    sources = {}
    for line in presets[name].read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):[^#]*#\s*(.+)$", line)
        if match:
            sources[match.group(1)] = match.group(2).strip()
    return sources


def describe_memory(name: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Model card of a technology or preset ``name`` with ``key=value`` overrides applied."""
    registry = get_registry()
    known = registry.components.get("memory", {})
    presets = memory_presets()
    if name in presets:  # the base files (conf/memory/stt_mram.yaml) hold the plugin's defaults
        config = load_preset(name)
        technology_name = config.pop("technology")
    elif name in known:
        config, technology_name = {}, name
    else:
        choices = sorted(set(known) | set(presets))
        raise ConfigError("memory", name, "a memory technology or conf/memory preset (one of " + ", ".join(choices) + ")")
    cls = registry.memory(technology_name, key="memory")
    technology = cls.from_config({**config, **_parse_overrides(overrides)}, f"memory {name}")
    card = technology.describe()
    given = _parse_overrides(overrides)
    sources = preset_sources(name) if name in presets else {}
    for row in card["parameters"]:
        if row["key"] in given:
            row["source"] = "set on the command line"
        elif row["key"] in sources:
            row["source"] = sources[row["key"]]
    if name != technology_name:
        card["preset"] = name
    return card


def format_card(card: dict[str, Any]) -> str:
    title = f"memory technology: {card['technology']}"
    if card.get("preset"):
        title += f" (preset {card['preset']})"
    lines = [title, "", "parameters:"]
    for row in card["parameters"]:
        unit = f" {row['unit']}" if row["unit"] else ""
        source = f"   [{row['source']}]" if row["source"] else ""
        lines.append(f"  {row['key']:<38} {row['value']!s:>12}{unit}{source}")
    lines += ["", "derived at these settings:"]
    for key, value in card["derived"].items():
        lines.append(f"  {key:<38} {value:.4g}" if isinstance(value, float) else f"  {key:<38} {value}")
    return "\n".join(lines)


# --- the technology reference page (plugins/technology-reference.md) --------------------------------------
BUILT_IN_MEMORIES = ("sram", "stt_mram", "dram", "reram")
REFERENCE_HEADING = "## 9. Every default of the built-in plugins"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ") if value not in ("", None) else "–"


def reference_defaults() -> str:
    """§9 of the technology reference page: every knob of the built-in memory plugins with its default, unit
    and source, as the code has them (``memtech describe --reference`` prints it)."""
    from memtech import params as _params
    from memtech.plugins import load_plugins

    registry = load_plugins(entry_points=False)
    lines = [REFERENCE_HEADING, "",
             "As the plugins' code has them (`memtech describe --reference` writes this section; a test checks that",
             "it matches the code). Presets in `conf/memory/` (`stt_mram_standard`, `ddr4`, ...) change some of",
             "them, each with its own source in the YAML comments; `memtech describe PRESET` shows the result."]
    for name in BUILT_IN_MEMORIES:
        technology = registry.memory(name)
        lines += ["", f"### {name} (`plugins/{technology.__module__.rsplit('.', 1)[-1]}.py`)", "",
                  "| knob | default | unit | source |", "|---|---|---|---|"]
        for row in _params.describe(technology.Params(technology=name)):
            if row["key"] != "technology":
                lines.append(f"| `{row['key']}` | {_cell(row['value'])} | {_cell(row['unit'])} | {_cell(row['source'])} |")
    return "\n".join(lines) + "\n"


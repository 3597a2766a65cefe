"""Model cards: every parameter of a memory with its unit, value and source, and the derived figures."""

from __future__ import annotations

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


def describe_memory(name: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    registry = get_registry()
    cls = registry.memory(name, key="memory")
    technology = cls.from_config(_parse_overrides(overrides), f"memory {name}")
    return technology.describe()


def format_card(card: dict[str, Any]) -> str:
    lines = [f"memory technology: {card['technology']}", "", "parameters:"]
    for row in card["parameters"]:
        unit = f" {row['unit']}" if row["unit"] else ""
        source = f"   [{row['source']}]" if row["source"] else ""
        lines.append(f"  {row['key']:<38} {row['value']!s:>12}{unit}{source}")
    lines += ["", "derived at these settings:"]
    for key, value in card["derived"].items():
        lines.append(f"  {key:<38} {value:.4g}" if isinstance(value, float) else f"  {key:<38} {value}")
    return "\n".join(lines)

"""Typed, validated parameter sets built from plain mappings (a Hydra node, a dict from the API).

A parameter set is a frozen dataclass whose fields may carry metadata made by :func:`knob`: the allowed
range or choices, the unit and the source of the default. :func:`build` turns a mapping into an instance and
raises :class:`ConfigError` naming the full key, the value and what was expected.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence, TypeVar, get_type_hints

from memtech.errors import ConfigError

T = TypeVar("T")


def knob(
    default: Any,
    *,
    unit: str = "",
    source: str = "",
    min: float | None = None,
    max: float | None = None,
    min_exclusive: bool = False,
    choices: Sequence[Any] | None = None,
    help: str = "",
) -> Any:
    """A dataclass field with its unit, the source of its default and its allowed values."""
    meta = {
        "unit": unit,
        "source": source,
        "min": min,
        "max": max,
        "min_exclusive": min_exclusive,
        "choices": tuple(choices) if choices is not None else None,
        "help": help,
    }
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _describe_range(meta: Mapping[str, Any]) -> str:
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and hi is not None:
        left = "(" if meta.get("min_exclusive") else "["
        return f"a number in {left}{lo:g}, {hi:g}]"
    if lo is not None:
        return f"a number > {lo:g}" if meta.get("min_exclusive") else f"a number >= {lo:g}"
    if hi is not None:
        return f"a number <= {hi:g}"
    return "a number"


def _check_value(key: str, value: Any, hint: Any, meta: Mapping[str, Any]) -> Any:
    choices = meta.get("choices")
    if choices is not None:
        if value not in choices:
            raise ConfigError(key, value, "one of " + ", ".join(repr(c) for c in choices))
        return value
    if hint in (float, "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # YAML reads "1e-5" (no dot) as a string: accept numeric strings, reject anything else.
            parsed = None
            if isinstance(value, str):
                try:
                    parsed = float(value)
                except ValueError:
                    pass
            if parsed is None:
                raise ConfigError(key, value, _describe_range(meta))
            value = parsed
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(key, value, "a finite " + _describe_range(meta).removeprefix("a "))
        lo, hi = meta.get("min"), meta.get("max")
        if (lo is not None and (value < lo or (meta.get("min_exclusive") and value == lo))) or (
            hi is not None and value > hi
        ):
            raise ConfigError(key, value, _describe_range(meta))
        return value
    if hint in (int, "int"):
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise ConfigError(key, value, "an integer")
        value = int(value)
        lo, hi = meta.get("min"), meta.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ConfigError(key, value, "an integer " + _describe_range(meta).removeprefix("a number "))
        return value
    if hint in (bool, "bool"):
        if not isinstance(value, bool):
            raise ConfigError(key, value, "true or false")
        return value
    if hint in (str, "str"):
        if not isinstance(value, str):
            raise ConfigError(key, value, "a string")
        return value
    return value


def build(cls: type[T], mapping: Mapping[str, Any] | None, prefix: str) -> T:
    """Build the parameter dataclass ``cls`` from ``mapping``; ``prefix`` is the config path for messages."""
    mapping = dict(mapping or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ConfigError(
            f"{prefix}.{unknown[0]}", mapping[unknown[0]], "a known key (one of " + ", ".join(sorted(fields)) + ")"
        )
    hints = get_type_hints(cls)
    values = {}
    for name, value in mapping.items():
        if value is None and fields[name].default is None:
            values[name] = None
            continue
        hint = hints.get(name)
        # `float | None` is a types.UnionType, which has no __origin__: test for it first.
        if hint == (float | None) and value is not None:
            values[name] = _check_value(f"{prefix}.{name}", value, float, fields[name].metadata)
        elif hint is not None and getattr(hint, "__origin__", None) is None:
            values[name] = _check_value(f"{prefix}.{name}", value, hint, fields[name].metadata)
        else:
            values[name] = value
    return cls(**values)


def describe(params: Any) -> list[dict[str, Any]]:
    """Rows of (key, value, unit, source) for a parameter dataclass, in field order."""
    rows = []
    for f in dataclasses.fields(params):
        rows.append(
            {
                "key": f.name,
                "value": getattr(params, f.name),
                "unit": f.metadata.get("unit", ""),
                "source": f.metadata.get("source", ""),
            }
        )
    return rows

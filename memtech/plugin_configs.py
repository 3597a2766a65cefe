"""Every installed plugin is a config option by name, with no YAML written: ``memory@memories.mram=pcm``,
``trainer=mytrainer``, ``dataset=mydata``.

Each memory, trainer and data-set plugin's parameter dataclass is stored in Hydra's ConfigStore under its
group (``memory``, ``trainer``, ``dataset``) as a structured config: its defaults are the option's values,
OmegaConf checks the types of overrides (``memories.mram.ber=abc`` is refused when the config is composed),
and ``--help`` and tab completion list the option. A name that has a YAML preset in ``conf/`` keeps the
preset (it documents each knob's source); the plugin's knobs and ranges are still checked when a job builds.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Optional

from memtech.plugins import Registry

# the config group of each kind of plugin, and the key that names the plugin in an option
GROUPS = {"memory": ("memory", "technology"), "trainer": ("trainer", "name"), "dataset": ("dataset", "name")}
PROVIDER = "memtech-plugins"


def _omegaconf_type(annotation: Any) -> Any:
    """The field type OmegaConf understands: ``float | None`` becomes ``Optional[float]``; a type it cannot
    check becomes Any (the plugin's own checks still apply when the job builds)."""
    if isinstance(annotation, str):  # postponed annotations: resolved by the caller where possible
        return Any
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1 and len(typing.get_args(annotation)) == 2:
            return Optional[_omegaconf_type(members[0])]
        return Any
    if annotation in (int, float, bool, str):
        return annotation
    if annotation in (list, dict) or typing.get_origin(annotation) in (list, dict):
        return annotation
    return Any


def option_node(component: type, kind: str, name: str) -> type:
    """A non-frozen dataclass with the plugin's parameter fields (OmegaConf makes a frozen one read-only, so
    no override could change it), led by the key that names the plugin."""
    _, key = GROUPS[kind]
    params = component.Params
    hints = typing.get_type_hints(params)
    fields: list[tuple[str, Any, Any]] = [(key, str, dataclasses.field(default=name))]
    for f in dataclasses.fields(params):
        if f.name == key:
            continue
        if f.default is not dataclasses.MISSING:
            default = dataclasses.field(default=f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = dataclasses.field(default_factory=f.default_factory)
        else:
            default = dataclasses.field(default=dataclasses.MISSING)
        fields.append((f.name, _omegaconf_type(hints.get(f.name, f.type)), default))
    return dataclasses.make_dataclass(f"{params.__name__}Option", fields)


def register_plugin_options(registry: Registry, conf_dir: Path, kinds: Iterable[str] = tuple(GROUPS)) -> list[str]:
    """Store every plugin of ``registry`` without a YAML preset in ``conf_dir`` as an option of its group;
    returns the options stored, as ``group/name``."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    stored = []
    for info in registry.all():
        if info.kind not in kinds or not dataclasses.is_dataclass(getattr(info.component, "Params", None)):
            continue
        group, _ = GROUPS[info.kind]
        if (conf_dir / group / f"{info.name}.yaml").is_file():
            continue  # the preset stays the option
        store.store(group=group, name=info.name, node=option_node(info.component, info.kind, info.name),
                    provider=PROVIDER)
        stored.append(f"{group}/{info.name}")
    return stored


def plugins_dirs_in(argv: Iterable[str]) -> list[str]:
    """The ``plugins_dir=...`` of a command line (``+plugins_dir`` and ``++plugins_dir`` too): its plugins
    must be options before Hydra composes the config, so they are read from the command line itself."""
    found = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+") == "plugins_dir" and value and value.lower() not in ("null", "none"):
            found.append(value)
    return found

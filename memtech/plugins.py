"""One loader for every plugin: the built-ins in ``plugins/``, folders of ``*.py`` files and entry points.

Built-in plugins are ordinary plugins: they implement the same hooks through the same public API as a
third-party package would. Each plugin is imported and called inside its own guard, so one broken plugin is
reported by name (and distribution) while the others still load; ``strict=True`` re-raises instead.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pluggy

from memtech import hookspecs
from memtech.errors import ConfigError, PluginError

ENTRY_POINT_GROUP = "memtech"
PLUGINS_DIR_ENV = "MEMTECH_PLUGINS_DIR"
BUILTIN_PLUGINS = (
    "memtech_plugins.sram",
    "memtech_plugins.stt_mram",
    "memtech_plugins.dram",
    "memtech_plugins.reram",
    "memtech_plugins.mlp",
    "memtech_plugins.cnn",
    "memtech_plugins.datasets",
    "memtech_plugins.image_datasets",
)
KINDS = ("memory", "trainer", "dataset")
_HOOK_FOR_KIND = {
    "memory": "memtech_register_memories",
    "trainer": "memtech_register_trainers",
    "dataset": "memtech_register_datasets",
}


@dataclass(frozen=True)
class PluginInfo:
    """One registered component and where it came from."""

    name: str
    kind: str
    component: type
    plugin: str  # module (or entry point) that registered it
    source: str  # "built-in", "dir:<path>", or the distribution name
    version: str


@dataclass(frozen=True)
class LoadFailure:
    plugin: str
    source: str
    error: str

    def __str__(self) -> str:
        return f'Error loading plugin "{self.plugin}" ({self.source}): {self.error}'


@dataclass
class Registry:
    """Everything the loaded plugins registered, by kind and name."""

    components: dict[str, dict[str, PluginInfo]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    failures: list[LoadFailure] = field(default_factory=list)
    # names claimed by more than one plugin: refused (results would be misattributed), the rest still load
    conflicts: dict[str, dict[str, list[PluginInfo]]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )

    def add(self, info: PluginInfo) -> None:
        table, conflicts = self.components[info.kind], self.conflicts[info.kind]
        if info.name in conflicts:
            conflicts[info.name].append(info)
        elif info.name in table:
            conflicts[info.name] = [table.pop(info.name), info]
        else:
            table[info.name] = info

    def conflict_message(self, kind: str, name: str) -> str:
        claims = " and ".join(f"plugin {i.plugin!r} ({i.source})" for i in self.conflicts[kind][name])
        return (f"{kind} name {name!r} is registered by more than one plugin: {claims}; it is refused until "
                "one is uninstalled or renamed (the others load)")

    def conflict_messages(self) -> list[str]:
        return [self.conflict_message(kind, name) for kind in KINDS for name in sorted(self.conflicts[kind])]

    def get(self, kind: str, name: str, key: str | None = None) -> type:
        """The component class registered as ``name``; a clear error lists the installed ones."""
        table = self.components[kind]
        if name in self.conflicts[kind]:
            raise PluginError(self.conflict_message(kind, name))
        if name not in table:
            installed = ", ".join(sorted(table)) or "none"
            raise ConfigError(key or f"{kind} name", name, f"one of the installed {kind} plugins ({installed})")
        return table[name].component

    def origin(self, kind: str, name: str) -> str:
        """Where the component came from, for error messages: plugin module and distribution."""
        info = self.components[kind].get(name)
        return f"plugin {info.plugin!r} from {info.source}" if info else "plugin not in the registry"

    def memory(self, name: str, key: str | None = None) -> type:
        return self.get("memory", name, key)

    def trainer(self, name: str, key: str | None = None) -> type:
        return self.get("trainer", name, key)

    def dataset(self, name: str, key: str | None = None) -> type:
        return self.get("dataset", name, key)

    def all(self) -> list[PluginInfo]:
        return [info for kind in KINDS for info in self.components[kind].values()]


def _version_of(component: type, default: str) -> str:
    return str(getattr(component, "version", None) or default)


def _memtech_version() -> str:
    from memtech import __version__

    return __version__


def _import_file(path: Path) -> Any:
    module_name = f"memtech_dir_plugin_{path.stem}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _plugin_sources(
    entry_points: bool | Iterable[importlib.metadata.EntryPoint],
    plugin_dirs: Iterable[str | os.PathLike],
    extra: Iterable[Any],
) -> Iterable[tuple[str, str, str, Any]]:
    """Yield (plugin name, source, version, loader) where loader() returns the plugin object."""
    for module_name in BUILTIN_PLUGINS:
        yield module_name, "built-in", _memtech_version(), lambda m=module_name: importlib.import_module(m)

    dirs = [Path(d) for d in plugin_dirs]
    env_dirs = os.environ.get(PLUGINS_DIR_ENV, "")
    dirs += [Path(d) for d in env_dirs.split(os.pathsep) if d]
    for directory in dirs:
        if not directory.is_dir():
            raise ConfigError("plugins_dir", str(directory), "an existing folder of *.py plugin files")
        for path in sorted(directory.glob("*.py")):
            yield path.stem, f"dir:{directory}", "local", lambda p=path: _import_file(p)

    if entry_points is True:
        eps: Iterable[importlib.metadata.EntryPoint] = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    elif entry_points is False:
        eps = ()
    else:
        eps = entry_points
    for ep in eps:
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else "unknown distribution"
        dist_version = dist.version if dist is not None else "unknown"
        yield ep.name, dist_name, dist_version, ep.load

    for obj in extra:
        name = getattr(obj, "__name__", type(obj).__name__)
        yield name, "registered explicitly", "local", lambda o=obj: o


def _base_of(kind: str) -> type:
    from memtech.dataset import Dataset
    from memtech.memory import MemoryTechnology
    from memtech.trainer import Trainer

    return {"memory": MemoryTechnology, "trainer": Trainer, "dataset": Dataset}[kind]


def _collector(found: list[PluginInfo], kind: str, plugin_name: str, source: str, version: str):
    base = _base_of(kind)

    def register(component: type) -> None:
        if not (isinstance(component, type) and issubclass(component, base)):
            raise PluginError(f"{kind} component {component!r} must be a subclass of memtech.{base.__name__}")
        name = getattr(component, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"{kind} component {component!r} has no 'name' attribute")
        found.append(PluginInfo(name, kind, component, plugin_name, source, _version_of(component, version)))

    return register


STRICT_ENV = "MEMTECH_STRICT_PLUGINS"  # "1": a plugin that fails to load, or a name claimed twice, is an error


def strict_from_environment() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes")


def load_plugins(
    *,
    strict: bool | None = None,
    entry_points: bool | Iterable[importlib.metadata.EntryPoint] = True,
    plugin_dirs: Iterable[str | os.PathLike] = (),
    extra: Iterable[Any] = (),
) -> Registry:
    """Load every plugin and return what they registered.

    Args:
        strict: re-raise the first plugin failure (or name claimed twice) instead of recording it in
            ``registry.failures`` (``registry.conflicts``); None: ``$MEMTECH_STRICT_PLUGINS``.
        entry_points: ``True`` loads the ``memtech`` entry-point group; a list loads exactly those.
        plugin_dirs: folders whose ``*.py`` files are each loaded as a plugin (also ``$MEMTECH_PLUGINS_DIR``).
        extra: plugin objects (modules or instances with hook implementations) to register as well.
    """
    strict = strict_from_environment() if strict is None else strict
    registry = Registry()
    manager = pluggy.PluginManager("memtech")
    manager.add_hookspecs(hookspecs)
    for plugin_name, source, version, loader in _plugin_sources(entry_points, plugin_dirs, extra):
        try:
            plugin = loader()
            if manager.is_registered(plugin):
                continue
            manager.register(plugin, name=f"{plugin_name}@{source}")
            # Collected first and added only once every hook has run, so a plugin that fails halfway leaves
            # nothing behind (a half-registered plugin would look installed but miss components).
            found: list[PluginInfo] = []
            try:
                for kind, hook_name in _HOOK_FOR_KIND.items():
                    for impl in getattr(manager.hook, hook_name).get_hookimpls():
                        if impl.plugin is plugin:
                            impl.function(register=_collector(found, kind, plugin_name, source, version))
            except BaseException:
                manager.unregister(plugin)
                raise
        except KeyboardInterrupt:
            raise  # Ctrl-C stops the host, whatever plugin was loading
        except BaseException as exc:  # noqa: BLE001 - a broken plugin must not take down the others, even
            # with sys.exit() or another BaseException at import (which would otherwise end every command)
            if strict:
                raise PluginError(f'Error loading plugin "{plugin_name}" ({source}): '
                                  f"{type(exc).__name__}: {exc}") from exc
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            registry.failures.append(LoadFailure(plugin_name, source, detail))
            continue
        for info in found:
            # Duplicate names misattribute results: the name is refused naming both, never silently renamed.
            registry.add(info)
    if strict and registry.conflict_messages():
        raise PluginError(registry.conflict_messages()[0])
    return registry


_default_registry: Registry | None = None


def get_registry() -> Registry:
    """The registry of all installed plugins, loaded once per process (idempotent); strict where
    ``$MEMTECH_STRICT_PLUGINS`` says so."""
    global _default_registry
    if _default_registry is None:
        _default_registry = load_plugins()
    return _default_registry


def problems(registry: Registry) -> list[str]:
    """What every command prints about the plugins it could not use: load failures, then names claimed twice."""
    return [str(failure) for failure in registry.failures] + registry.conflict_messages()

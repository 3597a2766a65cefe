"""The plugin loader: built-ins, explicit fixture plugins, plugin folders and (fake) third-party entry points."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap
from dataclasses import dataclass

import pytest

import memtech
from memtech import ConfigError, ErrorModel, MemoryParams, MemoryTechnology, PluginError, knob
from memtech.plugins import BUILTIN_PLUGINS, get_registry, load_plugins


@dataclass(frozen=True)
class FakeParams(MemoryParams):
    read_energy_pj_per_bit: float = knob(0.1, unit="pJ/bit", min=0.0, source="a test fixture")


class FakeMemory(MemoryTechnology):
    name = "fake_memory"
    Params = FakeParams
    version = "9.9"

    def error_model(self) -> ErrorModel:
        return ErrorModel()


class FixturePlugin:
    @memtech.hookimpl
    def memtech_register_memories(self, register):
        register(FakeMemory)


PLUGIN_SOURCE = textwrap.dedent(
    '''
    import memtech
    from memtech import Dataset, Data


    class Tiny(Dataset):
        name = "{name}"

        def load(self):
            raise NotImplementedError


    @memtech.hookimpl
    def memtech_register_datasets(register):
        register(Tiny)
    '''
)


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    """A module importable from a tmp folder on sys.path, and an entry point naming it."""
    (tmp_path / "memtech_tiny_plugin.py").write_text(PLUGIN_SOURCE.format(name="tiny"))
    (tmp_path / "memtech_broken_plugin.py").write_text("import memtech\nraise RuntimeError('boom at import')\n")
    (tmp_path / "memtech_clash_plugin.py").write_text(PLUGIN_SOURCE.format(name="digits"))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield {
        name: importlib.metadata.EntryPoint(name=name, value=f"memtech_{name}_plugin", group="memtech")
        for name in ("tiny", "broken", "clash")
    }
    for name in ("tiny", "broken", "clash"):
        sys.modules.pop(f"memtech_{name}_plugin", None)


def test_builtins_register_every_kind(registry):
    names = {(info.kind, info.name) for info in registry.all()}
    assert {("memory", "sram"), ("memory", "stt_mram"), ("memory", "dram"), ("memory", "reram"),
            ("trainer", "mlp"), ("dataset", "digits"), ("dataset", "synthetic")} <= names
    assert registry.failures == []
    assert all(info.source == "built-in" and info.version == memtech.__version__
               for info in registry.all() if info.plugin in BUILTIN_PLUGINS)
    assert registry.memory("sram").name == "sram"


def test_builtin_plugins_use_only_the_public_api():
    """Built-ins import ``memtech`` and the contract modules a third-party author reads, never engine internals."""
    from pathlib import Path

    import memtech_plugins

    contract = {"memtech", "memtech.errors", "memtech.memory", "memtech.params", "memtech.dataset", "memtech.trainer",
                "memtech.hookspecs", "memtech.physics", "memtech.datafiles", "memtech.layers", "memtech.network",
                "memtech.optim"}
    for path in Path(memtech_plugins.__file__).parent.glob("*.py"):
        for line in path.read_text().splitlines():
            if line.startswith(("import memtech", "from memtech")):
                module = line.split()[1]
                assert module in contract, f"{path.name} reaches into the engine: {line}"


def test_fixture_plugin_registered_explicitly():
    registry = load_plugins(entry_points=False, extra=[FixturePlugin()])
    info = registry.components["memory"]["fake_memory"]
    assert (info.component, info.source, info.version, info.plugin) == (FakeMemory, "registered explicitly", "9.9", "FixturePlugin")
    assert registry.memory("fake_memory") is FakeMemory


def test_third_party_entry_point_loads_through_the_same_api(third_party):
    registry = load_plugins(entry_points=[third_party["tiny"]])
    info = registry.components["dataset"]["tiny"]
    assert info.plugin == "tiny"
    assert info.source == "unknown distribution"  # a hand-made entry point has no distribution
    assert registry.failures == []
    assert "sram" in registry.components["memory"]  # built-ins still there


def test_broken_plugin_is_reported_by_name_and_the_others_load(third_party):
    registry = load_plugins(entry_points=[third_party["broken"], third_party["tiny"]], extra=[FixturePlugin()])
    assert [f.plugin for f in registry.failures] == ["broken"]
    failure = registry.failures[0]
    assert "RuntimeError: boom at import" in failure.error
    assert str(failure).startswith('Error loading plugin "broken" (unknown distribution): RuntimeError: boom at import')
    assert "tiny" in registry.components["dataset"]
    assert "fake_memory" in registry.components["memory"]
    assert "mlp" in registry.components["trainer"]


def test_strict_mode_reraises(third_party):
    with pytest.raises(PluginError, match='Error loading plugin "broken" .*boom at import') as info:
        load_plugins(strict=True, entry_points=[third_party["broken"]])
    assert isinstance(info.value.__cause__, RuntimeError)


def test_a_name_claimed_twice_is_refused_naming_both_plugins_and_the_rest_loads(third_party):
    registry = load_plugins(entry_points=[third_party["clash"], third_party["tiny"]])
    with pytest.raises(PluginError) as info:
        registry.dataset("digits")
    message = str(info.value)
    assert "dataset name 'digits' is registered by more than one plugin" in message
    assert "'memtech_plugins.datasets' (built-in)" in message
    assert "'clash' (unknown distribution)" in message
    assert registry.conflict_messages() == [message]
    assert "tiny" in registry.components["dataset"] and registry.memory("sram").name == "sram"
    with pytest.raises(PluginError, match="dataset name 'digits' is registered by more than one plugin"):
        load_plugins(entry_points=[third_party["clash"]], strict=True)


@pytest.mark.parametrize("statement, raised", [
    ("import sys; sys.exit()", "SystemExit"),
    ("import sys; sys.exit(3)", "SystemExit: 3"),
    ("raise GeneratorExit('odd')", "GeneratorExit: odd"),
    ("class Stop(BaseException): pass\nraise Stop('a BaseException of its own')", "Stop: a BaseException of its own"),
])
def test_a_plugin_that_raises_any_base_exception_at_import_is_named_and_skipped(tmp_path, statement, raised):
    (tmp_path / "exits.py").write_text(statement + "\n")
    registry = load_plugins(entry_points=False, plugin_dirs=[tmp_path], strict=False)
    assert [f.plugin for f in registry.failures] == ["exits"]
    assert str(registry.failures[0]).startswith(f'Error loading plugin "exits" (dir:{tmp_path}): ')
    assert str(registry.failures[0]).endswith(raised)
    assert "mlp" in registry.components["trainer"]
    with pytest.raises(PluginError, match=f'Error loading plugin "exits" .*{raised.split(":")[0]}'):
        load_plugins(entry_points=False, plugin_dirs=[tmp_path], strict=True)


def test_strict_loading_from_the_environment(third_party, monkeypatch):
    monkeypatch.setenv("MEMTECH_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match='Error loading plugin "broken"'):
        load_plugins(entry_points=[third_party["broken"]])
    monkeypatch.setenv("MEMTECH_STRICT_PLUGINS", "0")
    assert [f.plugin for f in load_plugins(entry_points=[third_party["broken"]]).failures] == ["broken"]


def test_a_plugin_that_fails_halfway_leaves_nothing_behind():
    class HalfBroken:
        @memtech.hookimpl
        def memtech_register_memories(self, register):
            register(FakeMemory)
            raise ValueError("second component broken")

    registry = load_plugins(entry_points=False, extra=[HalfBroken()])
    assert "fake_memory" not in registry.components["memory"]
    assert [f.plugin for f in registry.failures] == ["HalfBroken"]
    assert "ValueError: second component broken" in registry.failures[0].error


def test_component_without_a_name_is_reported():
    class Nameless(MemoryTechnology):
        pass

    class Plugin:
        @memtech.hookimpl
        def memtech_register_memories(self, register):
            register(Nameless)

    registry = load_plugins(entry_points=False, extra=[Plugin()])
    assert "has no 'name' attribute" in registry.failures[0].error


def test_plugin_folder_loads_every_py_file(tmp_path, monkeypatch):
    (tmp_path / "one.py").write_text(PLUGIN_SOURCE.format(name="folder_one"))
    (tmp_path / "two.py").write_text(PLUGIN_SOURCE.format(name="folder_two"))
    (tmp_path / "bad.py").write_text("def broken(:\n")
    (tmp_path / "notes.txt").write_text("ignored")
    registry = load_plugins(entry_points=False, plugin_dirs=[tmp_path])
    assert registry.components["dataset"]["folder_one"].source == f"dir:{tmp_path}"
    assert registry.components["dataset"]["folder_two"].plugin == "two"
    assert [f.plugin for f in registry.failures] == ["bad"]
    assert "SyntaxError" in registry.failures[0].error
    assert not any(name.startswith("memtech_dir_plugin_bad_") for name in sys.modules)

    # the environment variable names folders too
    other = tmp_path / "env"
    other.mkdir()
    (other / "three.py").write_text(PLUGIN_SOURCE.format(name="folder_three"))
    monkeypatch.setenv("MEMTECH_PLUGINS_DIR", str(other))
    assert "folder_three" in load_plugins(entry_points=False).components["dataset"]


def test_missing_plugin_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="plugins_dir must be an existing folder"):
        load_plugins(entry_points=False, plugin_dirs=[tmp_path / "nope"])


def test_loading_twice_gives_equal_registries_and_the_default_is_cached():
    first = load_plugins(entry_points=False)
    second = load_plugins(entry_points=False)
    assert {(i.kind, i.name) for i in first.all()} == {(i.kind, i.name) for i in second.all()}
    assert get_registry() is get_registry()


def test_unknown_component_error_names_key_and_installed(registry):
    with pytest.raises(ConfigError) as info:
        registry.trainer("transformer", key="trainer.name")
    assert str(info.value) == "trainer.name must be one of the installed trainer plugins (cnn, mlp), got 'transformer'"


def test_every_hook_registers_its_kind():
    """One fixture plugin implements every hookspec; each hook's components land under their kind."""
    from memtech import Dataset, Trainer, hookspecs

    class FakeTrainer(Trainer):
        name = "fake_trainer"

    class FakeDataset(Dataset):
        name = "fake_dataset"

    class Everything:
        @memtech.hookimpl
        def memtech_register_memories(self, register):
            register(FakeMemory)

        @memtech.hookimpl
        def memtech_register_trainers(self, register):
            register(FakeTrainer)

        @memtech.hookimpl
        def memtech_register_datasets(self, register):
            register(FakeDataset)

    specs = {name for name in vars(hookspecs) if name.startswith("memtech_register_")}
    assert specs == {name for name in vars(Everything) if name.startswith("memtech_register_")}
    registry = load_plugins(entry_points=False, extra=[Everything()])
    assert registry.memory("fake_memory") is FakeMemory
    assert registry.trainer("fake_trainer") is FakeTrainer
    assert registry.dataset("fake_dataset") is FakeDataset
    for hook in specs:
        assert getattr(hookspecs, hook).__doc__, f"hook {hook} is undocumented"


def test_component_of_the_wrong_kind_is_reported():
    class Plugin:
        @memtech.hookimpl
        def memtech_register_trainers(self, register):
            register(FakeMemory)

    registry = load_plugins(entry_points=False, extra=[Plugin()])
    assert "fake_memory" not in registry.components["trainer"]
    assert "must be a subclass of memtech.Trainer" in registry.failures[0].error

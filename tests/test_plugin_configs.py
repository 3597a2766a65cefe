"""Installed plugins are config options by name: ``memory@memories.mram=pcm``, ``trainer=...``, ``dataset=...``,
typed from the plugin's parameter dataclass, with no YAML written; built-ins keep their YAML presets."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

import memtech.hydra_main  # noqa: F401 - registers the resolvers and the installed plugins' options
from memtech.experiment import build_spec
from memtech.plugin_configs import option_node, plugins_dirs_in, register_plugin_options
from memtech.plugins import load_plugins

CONF = Path(__file__).resolve().parent.parent / "conf"

PLUGINS = textwrap.dedent('''
    from dataclasses import dataclass

    import memtech
    from memtech import ErrorModel, MemoryParams, MemoryTechnology, knob
    from memtech_plugins.mlp import Mlp, MlpParams
    from memtech_plugins.datasets import Synthetic, SyntheticParams


    @dataclass(frozen=True)
    class TestPcmParams(MemoryParams):
        ber: float = knob(1e-6, min=0.0, max=1.0, source="test")
        write_energy_pj_per_bit: float = knob(20.0, unit="pJ/bit", min=0.0, source="test")
        label: str | None = knob(None, help="a free-form label")


    class TestPcm(MemoryTechnology):
        name = "test_pcm"
        Params = TestPcmParams

        def error_model(self) -> ErrorModel:
            return ErrorModel.uniform_write(self.params.ber)


    @dataclass(frozen=True)
    class WideParams(MlpParams):
        hidden: list = knob([32, 32])


    class Wide(Mlp):
        name = "test_wide"
        Params = WideParams


    class Tiny(Synthetic):
        name = "test_tiny"
        Params = SyntheticParams


    @memtech.hookimpl
    def memtech_register_memories(register):
        register(TestPcm)


    @memtech.hookimpl
    def memtech_register_trainers(register):
        register(Wide)


    @memtech.hookimpl
    def memtech_register_datasets(register):
        register(Tiny)
''')


@pytest.fixture(scope="module")
def plugin_registry(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugins")
    (folder / "test_plugins.py").write_text(PLUGINS)
    registry = load_plugins(entry_points=False, plugin_dirs=[folder], strict=True)
    stored = register_plugin_options(registry, CONF)
    yield registry, folder, stored
    for group, name in (("memory", "test_pcm"), ("trainer", "test_wide"), ("dataset", "test_tiny")):
        ConfigStore.instance().repo[group].pop(f"{name}.yaml", None)


def _compose(overrides):
    with initialize_config_module("memtech_conf", version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_each_plugin_without_a_preset_is_an_option_and_presets_stay(plugin_registry):
    _, _, stored = plugin_registry
    assert {"memory/test_pcm", "trainer/test_wide", "dataset/test_tiny"} <= set(stored)
    assert not {"memory/sram", "memory/stt_mram", "trainer/mlp", "dataset/digits"} & set(stored)  # YAML presets


def test_an_option_has_the_plugins_defaults_and_builds(plugin_registry):
    registry, folder, _ = plugin_registry
    cfg = _compose(["memory@memories.mram=test_pcm", "trainer=test_wide", "dataset=test_tiny", "memories.mram.ber=1e-5"])
    mram = OmegaConf.to_container(cfg.memories.mram)
    defaults = dataclasses.asdict(registry.memory("test_pcm").Params())
    assert mram == {**defaults, "technology": "test_pcm", "ber": 1e-5}
    assert cfg.trainer.name == "test_wide" and list(cfg.trainer.hidden) == [32, 32]
    assert cfg.dataset.name == "test_tiny"
    config = OmegaConf.to_container(cfg, resolve=True)
    config["plugins_dir"] = str(folder)
    spec = build_spec(config, registry)
    assert spec.memories["mram"].name == "test_pcm" and spec.memories["mram"].params.ber == 1e-5


def test_overrides_are_type_checked_by_omegaconf(plugin_registry):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException) as caught:
        _compose(["memory@memories.mram=test_pcm", "memories.mram.ber=abc"])
    assert isinstance(caught.value.__cause__, ValidationError)
    message = str(caught.value.__cause__)
    assert "memories.mram.ber" in message and "'abc'" in message and "Float" in message
    cfg = _compose(["memory@memories.mram=test_pcm", "memories.mram.label=run-a"])  # Optional[str]
    assert cfg.memories.mram.label == "run-a"
    cfg = _compose(["memory@memories.mram=test_pcm", "memories.mram.label=null"])
    assert cfg.memories.mram.label is None


def test_an_option_node_is_not_frozen_and_leads_with_the_naming_key(plugin_registry):
    registry, _, _ = plugin_registry
    node = option_node(registry.trainer("test_wide"), "trainer", "test_wide")
    fields = [f.name for f in dataclasses.fields(node)]
    assert fields[0] == "name" and "hidden" in fields
    assert not node.__dataclass_params__.frozen  # OmegaConf would make a frozen one read-only


@pytest.mark.parametrize("argv, expected", [
    (["plugins_dir=/a"], ["/a"]), (["+plugins_dir=/b", "seed=1"], ["/b"]), (["++plugins_dir=/c"], ["/c"]),
    (["plugins_dir=null"], []), (["seed=1", "plugins_dirx=/d"], []), (["-m", "plugins_dir="], []),
])
def test_plugins_dirs_are_read_from_the_command_line(argv, expected):
    assert plugins_dirs_in(argv) == expected

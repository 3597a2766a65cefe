"""The configs in conf/ compose, validate, and match the plugins they configure; bad ones fail clearly."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

import memtech.hydra_main  # noqa: F401 - registers the runs-dir resolver
from memtech import tracking
from memtech.errors import ConfigError
from memtech.experiment import build_spec
from memtech.plugins import get_registry
from memtech.progress import progress_enabled

CONF = Path(__file__).resolve().parent.parent / "conf"


def compose_config(overrides=(), return_hydra_config=False):
    with initialize_config_module("memtech_conf", version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)


def engine_dict(cfg) -> dict:
    config = OmegaConf.to_container(cfg, resolve=True)
    config.pop("hydra", None)
    return config


def test_default_config_is_the_patent_job_and_validates():
    config = engine_dict(compose_config())
    spec = build_spec(config)
    assert set(spec.memories) == {"mram", "sram"}
    assert spec.memories["mram"].name == "stt_mram" and spec.memories["mram"].params.ber == 1e-5
    assert spec.memories["sram"].name == "sram"
    assert [p.name for p in spec.schedule.phases] == ["mram", "sram"]
    assert spec.schedule.phases[0].fraction == pytest.approx(0.8)
    assert spec.schedule.phases[0].placement["weights"] == "mram"
    assert spec.schedule.phases[0].placement["biases"] == "mram"
    assert set(spec.schedule.phases[1].placement.values()) == {"sram"}
    assert spec.dataset.name == "digits" and spec.trainer_cls.name == "mlp"
    assert tracking.tracking_params(config["tracking"]).backend == "mlflow"


def test_hydra_outputs_go_under_runs_and_jobs_do_not_chdir(tmp_path, monkeypatch):
    monkeypatch.setenv(tracking.RUNS_DIR_ENV, str(tmp_path))
    cfg = compose_config(return_hydra_config=True)
    assert cfg.hydra.job.chdir is False
    assert str(cfg.hydra.run.dir).startswith(str(tmp_path) + "/hydra/")
    assert str(cfg.hydra.sweep.dir).startswith(str(tmp_path) + "/multirun/")
    assert cfg.hydra.launcher._target_ == "hydra_plugins.memtech_batched_launcher.BatchedLauncher" and cfg.hydra.launcher.n_jobs == -1
    assert cfg.hydra.callbacks.memtech._target_ == "memtech.hydra_callbacks.MemtechCallback"


@pytest.mark.parametrize("technology", ["stt_mram", "sram", "dram", "reram"])
def test_memory_yaml_lists_every_knob_with_the_plugin_default(technology):
    cls = get_registry().memory(technology)
    yaml_values = OmegaConf.to_container(OmegaConf.load(CONF / "memory" / f"{technology}.yaml"))
    assert yaml_values.pop("technology") == technology
    fields = {f.name: f for f in dataclasses.fields(cls.Params) if f.name != "technology"}
    assert set(yaml_values) == set(fields), "conf/memory YAML and the plugin's Params must list the same knobs"
    defaults = cls.Params()
    for name, value in yaml_values.items():
        expected = getattr(defaults, name)
        if isinstance(expected, float) and value is not None:
            assert math.isclose(float(value), expected, rel_tol=1e-12), name
        else:
            assert value == expected, name
    # Every numeric default carries its source as a comment in the YAML.
    text = (CONF / "memory" / f"{technology}.yaml").read_text()
    for line in text.splitlines():
        if line and not line.startswith("#") and not line.startswith("technology"):
            assert "#" in line, f"{technology}.yaml: {line!r} has no source/explanation comment"


@pytest.mark.parametrize("trainer", ["mlp", "cnn"])
def test_trainer_yaml_lists_every_knob_with_the_plugin_default(trainer):
    cls = get_registry().trainer(trainer)
    yaml_values = OmegaConf.to_container(OmegaConf.load(CONF / "trainer" / f"{trainer}.yaml"))
    assert yaml_values.pop("name") == trainer
    defaults = cls.Params()
    assert set(yaml_values) == {f.name for f in dataclasses.fields(cls.Params)}
    for name, value in yaml_values.items():
        assert value == getattr(defaults, name), name


@pytest.mark.parametrize("preset", ["lenet5", "vgg_small"])
def test_cnn_presets_build_their_networks(preset):
    cls = get_registry().trainer("cnn")
    trainer_config = OmegaConf.to_container(compose_config([f"trainer={preset}"]).trainer)
    params = cls.build_params(trainer_config, "trainer")
    shape = (1, 28, 28) if preset == "lenet5" else (3, 32, 32)
    trainer = cls(params, int(np.prod(shape)), 10, np, input_shape=shape)
    n_params = trainer.network.n_weights + trainer.network.n_biases
    # LeNet-5: 156 + 2,416 + 48,120 + 10,164 + 850; vgg_small: convs 448 + 2,320 + 4,640 + 9,248 + 18,496,
    # dense 1,024 -> 128: 131,200, classifier 1,290
    assert n_params == {"lenet5": 61_706, "vgg_small": 167_642}[preset]


@pytest.mark.parametrize("preset", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_preset_composes_and_validates(preset):
    build_spec(engine_dict(compose_config([f"experiment={preset}"])))


def test_patent_grid_is_the_patents_sweep():
    cfg = compose_config(["experiment=patent_grid"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    bers = sorted(float(v) for v in params["memories.mram.ber"].split(","))
    shares = sorted(float(v) for v in params["schedule.first_fraction"].split(","))
    assert bers == [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3]
    assert shares == [0.2, 0.4, 0.6, 0.8, 0.95]


def test_sram_baseline_is_recognised_as_all_sram():
    assert tracking.is_all_sram(engine_dict(compose_config(["experiment=sram_baseline"])))
    assert not tracking.is_all_sram(engine_dict(compose_config()))


def test_any_technology_can_fill_either_memory_slot():
    config = engine_dict(compose_config(["memory@memories.mram=reram", "memory@memories.sram=dram"]))
    spec = build_spec(config)
    assert spec.memories["mram"].name == "reram" and spec.memories["sram"].name == "dram"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["memories.mram.ber=1.5"], "memories.mram.ber must be a number in [0, 1], got 1.5"),
        (["memories.mram.technology=flash"], "memories.mram.technology must be one of the installed memory plugins (dram, reram, sram, stt_mram"),
        (["+memories.mram.bogus_knob=3"], "memories.mram.bogus_knob must be a known key"),
        (["schedule.first_fraction=1.2"], "schedule.first_fraction must be a number in (0, 1), got 1.2"),
        (["schedule.phases.0.placement.weights=l3"], "schedule.phases[0].placement.weights must be the name of a configured memory (one of mram, sram), got 'l3'"),
        (["trainer.epochs=0"], "trainer.epochs must be an integer >= 1, got 0"),
        (["dataset.name=imagenet"], "dataset.name must be one of the installed dataset plugins"),
        (["device=tpu"], "device must be one of cpu, gpu, auto, got 'tpu'"),
    ],
)
def test_bad_engine_values_fail_before_work_with_key_value_and_expectation(overrides, message):
    with pytest.raises(ConfigError) as err:
        build_spec(engine_dict(compose_config(overrides)))
    assert message in str(err.value)


def test_tracking_and_progress_sections_are_validated():
    with pytest.raises(ConfigError, match=r"tracking.backend must be one of 'mlflow', 'none', got 'wandb'"):
        tracking.tracking_params(engine_dict(compose_config(["tracking.backend=wandb"]))["tracking"])
    with pytest.raises(ConfigError, match=r"tracking.log_model must be true or false"):
        tracking.tracking_params({"backend": "mlflow", "log_model": "yes"})
    assert tracking.tracking_params(engine_dict(compose_config(["tracking=none"]))["tracking"]).backend == "none"
    with pytest.raises(ConfigError, match="progress must be auto, true or false, got 'loud'"):
        progress_enabled("loud", multirun=False)


def test_unknown_memory_preset_lists_the_available_ones():
    with pytest.raises(ConfigCompositionException) as err:
        compose_config(["memory@memories.mram=flash"])
    text = str(err.value)
    assert "flash" in text
    for name in ("stt_mram", "sram", "dram", "reram"):
        assert name in text

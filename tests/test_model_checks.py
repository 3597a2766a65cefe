"""A memory plugin's models are checked when the technology is built: a plugin bug is an error naming the
plugin, the model, the field and the value before any work, never a traceback at the first write or a run
that finishes with meaningless energy."""

from __future__ import annotations

import dataclasses
import math

import pytest

import memtech
from memtech import EnergyModel, ErrorModel, LatencyModel, MemoryTechnology, PluginError
from memtech.experiment import build_spec, run_experiment
from memtech.plugins import load_plugins
from memtech_plugins.sram import Sram

from conftest import digits_config


def _misbehaving(**models):
    """An SRAM whose models are replaced by the given callables of the technology."""
    return type("Misbehaving", (Sram,), {"name": "misbehaving", **{k: (lambda self, f=f: f(self)) for k, f in models.items()}})


def _registry(component):
    class Plugin:
        @memtech.hookimpl
        def memtech_register_memories(self, register):
            register(component)

    return load_plugins(entry_points=False, extra=[Plugin()])


def _config():
    config = digits_config("all_mram")
    config["memories"]["mram"] = {"technology": "misbehaving"}
    return config


def _energy(self, **change):
    return dataclasses.replace(Sram.energy_model(self), **change)


@pytest.mark.parametrize("models, fragment", [
    ({"error_model": lambda self: ErrorModel.uniform_write(1.7)}, "error_model().write_ber_0to1 must be a probability in [0, 1], got 1.7"),
    ({"error_model": lambda self: ErrorModel(read_sense_ber=-1e-3)}, "error_model().read_sense_ber must be a finite number >= 0, got -0.001"),
    ({"error_model": lambda self: ErrorModel(retention_rate_0to1_per_s=math.nan)}, "error_model().retention_rate_0to1_per_s must be a finite number >= 0, got nan"),
    ({"error_model": lambda self: ErrorModel(stuck_at_1_fraction="0.1")}, "error_model().stuck_at_1_fraction must be a number, got '0.1'"),
    ({"error_model": lambda self: {"ber": 0.0}}, "error_model() must return a memtech.ErrorModel, got dict"),
    ({"energy_model": lambda self: _energy(self, write_j_per_bit=-3e-13)}, "energy_model().write_j_per_bit must be a finite number >= 0, got -3e-13"),
    ({"energy_model": lambda self: _energy(self, leakage_w_per_bit=math.inf)}, "energy_model().leakage_w_per_bit must be a finite number >= 0, got inf"),
    ({"latency_model": lambda self: LatencyModel(math.nan, 1e-9)}, "latency_model().read_s_per_access must be a finite number >= 0, got nan"),
    ({"latency_model": lambda self: LatencyModel(1e-9, 1e-9, banks=0)}, "latency_model().banks must be an integer >= 1, got 0"),
    ({"energy_model": lambda self: 1 / 0}, "energy_model() raised ZeroDivisionError: division by zero"),
])
def test_a_plugin_model_out_of_range_is_an_error_naming_plugin_model_and_value(models, fragment):
    registry = _registry(_misbehaving(**models))
    with pytest.raises(PluginError) as info:
        build_spec(_config(), registry)
    message = str(info.value)
    assert message.startswith("memory plugin 'misbehaving' (plugin 'Plugin' from registered explicitly), configured at memories.mram: ")
    assert fragment in message


def test_negative_energies_no_longer_finish():
    registry = _registry(_misbehaving(energy_model=lambda self: _energy(self, read_j_per_bit=-1e-12)))
    with pytest.raises(PluginError, match=r"energy_model\(\).read_j_per_bit must be a finite number >= 0"):
        run_experiment(_config(), registry=registry)


def test_every_built_in_technology_passes_its_own_checks(registry):
    from memtech.memory import check_models

    for name in ("sram", "stt_mram", "dram", "reram"):
        technology = registry.memory(name).from_config({}, f"memories.{name}")
        check_models(technology, f"memories.{name}", registry.origin("memory", name))  # raises on a bad model
        assert isinstance(technology.energy_model(), EnergyModel)

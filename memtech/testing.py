"""A test kit for memory-technology plugins: ``check_memory_plugin(MyMemory)`` checks the contract every
memory plugin must keep, and raises an AssertionError that says what is wrong. Use it in a plugin's own tests
(the sample package in ``plugins/example-package`` does; so do the tests of memtech's built-in plugins)::

    from memtech.testing import check_memory_plugin
    from my_package import Pcm

    def test_pcm_keeps_the_memory_plugin_contract():
        check_memory_plugin(Pcm)

What it checks:

* the class: a :class:`memtech.MemoryTechnology` subclass with a ``name`` and a ``Params`` dataclass
  derived from :class:`memtech.MemoryParams`;
* every knob: a number has a source for its default (``knob(source=...)``), and a knob whose name carries a
  unit (``_ns``, ``_pj_per_bit``, ``_mw_per_mb``, ...) declares that unit (``knob(unit=...)``);
* the models at the defaults: error rates in [0, 1], energies, latencies and leakage finite and >= 0, the
  right types (:func:`memtech.memory.check_models`, what every run checks too);
* ``describe()``: a model card naming the technology with a row for every knob, that can be written as JSON;
* a short training run with the weights and biases in this memory: finite accuracy in [0, 1] and finite,
  non-negative energy, part of it spent in this memory.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from memtech.errors import MemtechError
from memtech.memory import MemoryParams, MemoryTechnology, check_models

# unit words in knob names: a knob named with one at its end (write_pulse_ns) or before a "per"
# (read_energy_pj_per_bit) must declare its unit (knob(unit=...)); retention_ber_per_refresh needs none
UNIT_WORDS = frozenset({"ns", "us", "ms", "s", "pj", "fj", "nj", "j", "mw", "uw", "w", "v", "mv", "ua", "ma", "a",
                        "k", "mb", "kb", "bits", "bit", "mm2", "nm", "ohm", "kohm", "hz", "mhz"})


def _has_unit_in_name(name: str) -> bool:
    words = name.split("_")
    before_per = [words[i - 1] for i, word in enumerate(words) if word == "per" and i > 0]
    return words[-1] in UNIT_WORDS or any(word in UNIT_WORDS for word in before_per)


def knob_problems(params: type) -> list[str]:
    """What the knobs of a parameter dataclass lack: a source for a number's default, a unit its name implies."""
    problems = []
    for f in dataclasses.fields(params):
        default = f.default if f.default is not dataclasses.MISSING else None
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if numeric and not f.metadata.get("source"):
            problems.append(f"{params.__name__}.{f.name} = {default!r} has no source (knob(..., source=...))")
        if _has_unit_in_name(f.name) and not f.metadata.get("unit"):
            problems.append(f"{params.__name__}.{f.name}: its name carries a unit, but the knob declares none "
                            "(knob(..., unit=...))")
    return problems


def check_memory_plugin(technology: type, *, epochs: int = 1, n_samples: int = 240) -> dict[str, Any]:
    """Check the memory-plugin contract (see the module's docstring); returns the short run's metrics."""
    assert isinstance(technology, type) and issubclass(technology, MemoryTechnology), (
        f"{technology!r} is not a subclass of memtech.MemoryTechnology")
    name = technology.name
    assert isinstance(name, str) and name.isidentifier(), f"{technology.__name__}.name must be an identifier, got {name!r}"
    params = technology.Params
    assert dataclasses.is_dataclass(params) and issubclass(params, MemoryParams), (
        f"{name}: Params must be a dataclass derived from memtech.MemoryParams, got {params!r}")
    problems = knob_problems(params)
    assert not problems, f"{name}: " + "; ".join(problems)

    try:
        memory = technology()
        memory.validate(f"memories.{name}")
        check_models(memory, f"memories.{name}", f"the plugin under test ({technology.__module__})")
    except MemtechError as exc:  # what a run would refuse up front
        raise AssertionError(f"{name} at its defaults: {exc}") from exc

    card = memory.describe()
    assert card.get("technology") == name, f"{name}: describe() names {card.get('technology')!r}"
    listed = {row.get("key") for row in card.get("parameters", [])}
    missing = {f.name for f in dataclasses.fields(params)} - listed - {"technology"}
    assert not missing, f"{name}: describe() lists no row for {sorted(missing)}"
    json.dumps(card, default=str)  # the card is logged with every run

    metrics = _short_run(technology, epochs, n_samples)
    accuracy, energy = metrics["test_accuracy"], metrics["energy_j"]
    assert math.isfinite(accuracy) and 0.0 <= accuracy <= 1.0, f"{name}: a short run's accuracy is {accuracy}"
    assert math.isfinite(energy) and energy >= 0.0, f"{name}: a short run's energy is {energy} J"
    own = metrics.get("memory.under_test.energy_j")
    assert own is not None and math.isfinite(own) and own >= 0.0, f"{name}: its energy in the run is {own} J"
    return metrics


def _short_run(technology: type, epochs: int, n_samples: int) -> dict[str, float]:
    """A few steps of the MLP on synthetic data with weights and biases in the memory under test (as
    ``under_test``) and everything else in SRAM, run with a registry that holds the plugin."""
    from memtech.experiment import run_experiment
    from memtech.plugins import PluginInfo, load_plugins

    registry = load_plugins(entry_points=False)
    registry.components["memory"][technology.name] = PluginInfo(
        technology.name, "memory", technology, technology.__module__, "under test", "test")
    placement = {"weights": "under_test", "biases": "under_test", "activations": "sram", "optimizer": "sram"}
    config = {
        "seed": 0,
        "memories": {"under_test": {"technology": technology.name}, "sram": {"technology": "sram"}},
        "schedule": {"name": "contract", "phases": [{"name": "only", "placement": placement}]},
        "trainer": {"name": "mlp", "hidden": [8], "epochs": epochs, "batch_size": 32},
        "dataset": {"name": "synthetic", "n_samples": n_samples, "n_features": 8, "n_classes": 3},
    }
    result = run_experiment(config, registry=registry)
    metrics = result.metrics()
    metrics["memory.under_test.energy_j"] = sum(row.energy_j for row in result.accounting if row.memory == "under_test")
    return metrics

"""memtech.testing.check_memory_plugin: the built-in memory plugins keep the contract, and a plugin that breaks
it is told what is wrong."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from memtech import ErrorModel, MemoryParams, MemoryTechnology, knob
from memtech.plugins import load_plugins
from memtech.testing import check_memory_plugin, knob_problems

BUILT_IN = load_plugins(entry_points=False)


@pytest.mark.parametrize("name", sorted(BUILT_IN.components["memory"]))
def test_every_built_in_memory_plugin_keeps_the_contract(name):
    metrics = check_memory_plugin(BUILT_IN.memory(name))
    assert metrics["memory.under_test.energy_j"] > 0  # it was read and written


@dataclass(frozen=True)
class GoodParams(MemoryParams):
    read_energy_pj_per_bit: float = knob(1.0, unit="pJ/bit", min=0.0, source="test")
    write_energy_pj_per_bit: float = knob(2.0, unit="pJ/bit", min=0.0, source="test")
    read_latency_ns: float = knob(5.0, unit="ns", min=0.0, min_exclusive=True, source="test")
    write_latency_ns: float = knob(9.0, unit="ns", min=0.0, min_exclusive=True, source="test")
    leakage_mw_per_mb: float = knob(0.5, unit="mW/MB", min=0.0, source="test")
    area_mm2_per_mb: float = knob(1.0, unit="mm²/MB", min=0.0, source="test")
    ber: float = knob(1e-6, min=0.0, max=1.0, source="test")


class Good(MemoryTechnology):
    name = "good"
    Params = GoodParams

    def error_model(self) -> ErrorModel:
        return ErrorModel.uniform_write(self.params.ber)


def test_a_well_made_plugin_passes():
    metrics = check_memory_plugin(Good)
    assert 0.0 <= metrics["test_accuracy"] <= 1.0


def test_a_number_without_a_source_and_a_unit_named_but_not_declared_are_named():
    @dataclass(frozen=True)
    class Sloppy(GoodParams):
        write_pulse_ns: float = knob(10.0, source="test")  # unit in the name, none declared
        gain: float = knob(2.0)  # no source
        ber_per_refresh: float = knob(0.0, source="test")  # a rate per event: no unit needed

    problems = knob_problems(Sloppy)
    assert problems == ["Sloppy.write_pulse_ns: its name carries a unit, but the knob declares none (knob(..., unit=...))",
                        "Sloppy.gain = 2.0 has no source (knob(..., source=...))"]

    class Bad(Good):
        name = "bad"
        Params = Sloppy

    with pytest.raises(AssertionError, match="bad: Sloppy.write_pulse_ns"):
        check_memory_plugin(Bad)


def test_a_rate_out_of_range_is_refused_naming_the_model_and_value():
    class Broken(Good):
        name = "broken"

        def error_model(self) -> ErrorModel:
            return ErrorModel.uniform_write(1.7)

    with pytest.raises(AssertionError, match="broken at its defaults: .*1.7"):
        check_memory_plugin(Broken)


def test_the_class_itself_is_checked():
    with pytest.raises(AssertionError, match="not a subclass of memtech.MemoryTechnology"):
        check_memory_plugin(dict)

    class Nameless(Good):
        name = ""

    with pytest.raises(AssertionError, match="must be an identifier"):
        check_memory_plugin(Nameless)

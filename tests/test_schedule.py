"""Schedule validation and the built-in schedules."""

from __future__ import annotations

import pytest
from conftest import placement

from memtech import ConfigError
from memtech.schedule import PATENT_FIRST_FRACTIONS, Schedule, builtin_phases

MEMORIES = ("mram", "sram")


def two_phases(**first):
    return {"phases": [{"name": "a", "placement": placement("mram"), **first},
                       {"name": "b", "placement": placement("sram")}]}


def test_last_phase_takes_what_the_others_leave():
    schedule = Schedule.from_config(two_phases(fraction=0.3), MEMORIES)
    assert [p.fraction for p in schedule.phases] == pytest.approx([0.3, 0.7])
    assert [(p.name, start, end) for p, start, end in schedule.iteration_bounds(100)] == [("a", 0, 30), ("b", 30, 100)]


@pytest.mark.parametrize("first", PATENT_FIRST_FRACTIONS)
def test_patent_first_fractions(first):
    schedule = Schedule.from_config({"name": "mram_then_sram", "first_fraction": first}, MEMORIES)
    (mram, _, split), (sram, start, end) = schedule.iteration_bounds(860)
    assert (mram.name, sram.name) == ("mram", "sram")
    assert split == start == round(first * 860) and end == 860
    assert mram.placement["weights"] == mram.placement["biases"] == "mram"
    assert set(sram.placement.values()) == {"sram"}


def test_builtin_schedules_by_name():
    assert Schedule.from_config({"name": "all_sram"}, MEMORIES).memories() == {"sram"}
    all_mram = Schedule.from_config({"name": "all_mram"}, MEMORIES)
    assert all_mram.phases[0].placement["weights"] == "mram" and all_mram.phases[0].fraction == 1.0
    assert len(builtin_phases("mram_then_sram", first_fraction=0.2)) == 2


@pytest.mark.parametrize(
    "config, key, fragment",
    [
        (two_phases(fraction=0.0), "schedule.phases[0].fraction", "a number in (0, 1]"),
        (two_phases(fraction=1.5), "schedule.phases[0].fraction", "a number in (0, 1]"),
        (two_phases(fraction="half"), "schedule.phases[0].fraction", "a number in (0, 1]"),
        ({"phases": [{"name": "a", "fraction": 0.5, "placement": placement("mram")},
                     {"name": "b", "fraction": 0.4, "placement": placement("sram")}]}, "schedule.phases", "add up to 1"),
        ({"phases": [{"placement": placement("mram")}, {"fraction": 0.5, "placement": placement("sram")}]},
         "schedule.phases[0].fraction", "only the last phase may omit it"),
        ({"phases": [{"name": "a", "fraction": 0.5, "placement": placement("mram")},
                     {"name": "a", "placement": placement("sram")}]}, "schedule.phases", "distinct names"),
        ({"phases": [{"placement": placement("dram")}]}, "schedule.phases[0].placement.weights", "one of mram, sram"),
        ({"phases": [{"placement": {"weights": "sram", "biases": "sram", "activations": "sram"}}]},
         "schedule.phases[0].placement.optimizer", "every role needs one"),
        ({"phases": [{"placement": {**placement("sram"), "gradients": "sram"}}]},
         "schedule.phases[0].placement.gradients", "known role"),
        ({"phases": [{"placement": placement("sram"), "fractoin": 1.0}]}, "schedule.phases[0].fractoin", "a known key"),
        ({"phases": []}, "schedule.phases", "non-empty list"),
        ({"name": "mram_then_sram", "first_fraction": 1.0}, "schedule.first_fraction", "a number in (0, 1)"),
        ({"name": "mram_then_sram", "first_fraction": True}, "schedule.first_fraction", "a number in (0, 1)"),
        ({"name": "all_sram", "first_fraction": 0.5}, "schedule.first_fraction", "two-phase"),
        ({"phases": [{"placement": placement("sram")}], "first_fraction": 0.5}, "schedule.first_fraction", "two-phase"),
        ({"name": "mram_first"}, "schedule.name", "built-in schedules"),
        ({"name": "x", "phases": [], "stages": 2}, "schedule.stages", "a known key"),
    ],
)
def test_invalid_schedules_name_key_value_and_expectation(config, key, fragment):
    with pytest.raises(ConfigError) as info:
        Schedule.from_config(config, MEMORIES)
    assert info.value.key == key
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"{key} must be ")
    assert ", got " in str(info.value)


def test_first_fraction_overrides_the_phase_shares():
    schedule = Schedule.from_config({**two_phases(fraction=0.3), "first_fraction": 0.95}, MEMORIES)
    assert [p.fraction for p in schedule.phases] == pytest.approx([0.95, 0.05])


def test_a_short_run_may_leave_a_phase_empty_without_error():
    schedule = Schedule.from_config({"name": "mram_then_sram", "first_fraction": 0.95}, MEMORIES)
    assert [(start, end) for _, start, end in schedule.iteration_bounds(10)] == [(0, 10), (10, 10)]

"""Parameter validation: every message names the full key, the value and what was expected."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import digits_config

from memtech import ConfigError, knob
from memtech.experiment import build_spec
from memtech.params import build, describe


@dataclasses.dataclass(frozen=True)
class Knobs:
    rate: float = knob(0.5, unit="1", min=0.0, max=1.0, source="a test")
    width_bits: int = knob(8, unit="bit", min=1)
    positive: float = knob(1.0, min=0.0, min_exclusive=True)
    mode: str = knob("a", choices=("a", "b"))
    enabled: bool = knob(True)
    label: str = knob("x")
    optional: float | None = knob(None, min=0.0)
    widths: list = knob([1, 2])


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({"rate": 1.5}, "knobs.rate must be a number in [0, 1], got 1.5"),
        ({"rate": "high"}, "knobs.rate must be a number in [0, 1], got 'high'"),
        ({"rate": True}, "knobs.rate must be a number in [0, 1], got True"),
        ({"rate": float("nan")}, "knobs.rate must be a finite number in [0, 1], got nan"),
        ({"width_bits": 0}, "knobs.width_bits must be an integer >= 1, got 0"),
        ({"width_bits": 2.5}, "knobs.width_bits must be an integer, got 2.5"),
        ({"positive": 0}, "knobs.positive must be a number > 0, got 0.0"),
        ({"mode": "c"}, "knobs.mode must be one of 'a', 'b', got 'c'"),
        ({"enabled": "yes"}, "knobs.enabled must be true or false, got 'yes'"),
        ({"label": 3}, "knobs.label must be a string, got 3"),
        ({"optional": -1}, "knobs.optional must be a number >= 0, got -1.0"),
        ({"rate": None}, "knobs.rate must be a number in [0, 1], got None"),
        ({"rat": 0.1}, "knobs.rat must be a known key (one of enabled, label, mode, optional, positive, rate, width_bits, widths), got 0.1"),
    ],
)
def test_messages_name_key_value_and_expectation(mapping, message):
    with pytest.raises(ConfigError) as info:
        build(Knobs, mapping, "knobs")
    assert str(info.value) == message
    assert info.value.key.startswith("knobs.")


def test_yaml_strings_of_numbers_and_integral_floats_are_accepted():
    # YAML 1.1 reads "1e-5" (no dot) as a string
    params = build(Knobs, {"rate": "1e-5", "width_bits": 16.0, "optional": None}, "knobs")
    assert params.rate == 1e-5 and isinstance(params.rate, float)
    assert params.width_bits == 16 and isinstance(params.width_bits, int)
    assert params.optional is None


def test_list_defaults_are_not_shared_between_instances():
    a, b = build(Knobs, {}, "k"), build(Knobs, {}, "k")
    assert a.widths == [1, 2] and a.widths is not b.widths


def test_describe_lists_units_and_sources():
    rows = {row["key"]: row for row in describe(build(Knobs, {}, "k"))}
    assert rows["rate"] == {"key": "rate", "value": 0.5, "unit": "1", "source": "a test"}
    assert rows["width_bits"]["unit"] == "bit"


@pytest.mark.parametrize(
    "change, key, value",
    [
        (lambda c: c.update(seed=-1), "seed", -1),
        (lambda c: c.update(seed=True), "seed", True),
        (lambda c: c.update(device="tpu"), "device", "tpu"),
        (lambda c: c.update(optimiser={}), "optimiser", {}),
        (lambda c: c["memories"]["mram"].update(technology="pcm"), "memories.mram.technology", "pcm"),
        (lambda c: c["memories"]["mram"].update(ber=1.5), "memories.mram.ber", 1.5),
        (lambda c: c["memories"]["sram"].update(read_latency_ns=0), "memories.sram.read_latency_ns", 0.0),
        (lambda c: c["memories"]["sram"].update(leakage_mw=1), "memories.sram.leakage_mw", 1),
        (lambda c: c["memories"]["sram"].update(protection="ecc"), "memories.sram.protection", "ecc"),
        (lambda c: c.update(memories={}), "memories", {}),
        (lambda c: c.update(memories=None), "memories", None),
        (lambda c: c["trainer"].update(name="transformer"), "trainer.name", "transformer"),
        (lambda c: c["trainer"].update(hidden=[64, 0]), "trainer.hidden", [64, 0]),
        (lambda c: c["trainer"].update(learning_rate=0), "trainer.learning_rate", 0.0),
        (lambda c: c["trainer"].update(momentum=1.0), "trainer.momentum", 1.0),
        (lambda c: c["dataset"].update(name="imagenet"), "dataset.name", "imagenet"),
        (lambda c: c["dataset"].update(test_fraction=0.0), "dataset.test_fraction", 0.0),
        (lambda c: c.update(processor={"compute_ns_per_mac": -1}), "processor.compute_ns_per_mac", -1.0),
    ],
)
def test_whole_config_is_validated_before_work(registry, change, key, value):
    config = digits_config("mram_then_sram")
    change(config)
    with pytest.raises(ConfigError) as info:
        build_spec(config, registry)
    assert info.value.key == key
    assert info.value.value == value
    assert str(info.value).startswith(f"{key} must be ")


def test_unknown_plugin_name_lists_installed_ones(registry):
    config = digits_config()
    config["memories"]["mram"]["technology"] = "pcm"
    with pytest.raises(ConfigError, match=r"one of the installed memory plugins \(dram, reram, sram, stt_mram\)"):
        build_spec(config, registry)

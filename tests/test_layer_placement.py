"""Per-layer placement: the weights and biases of chosen layers in another memory, accounted per layer."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from conftest import digits_config
from memtech.errors import ConfigError
from memtech.experiment import run_batch, run_experiment

IN_MRAM = {"weights": "mram", "biases": "mram", "activations": "sram", "optimizer": "sram"}
NOISY_MRAM = {"ber": 1e-4, "write_error_mode": "any"}


def schedule(layers=None, then_sram=False):
    placement = dict(IN_MRAM, **({"layers": layers} if layers is not None else {}))
    phases = [{"name": "mram", "placement": placement}]
    if then_sram:
        phases[0]["fraction"] = 0.5
        phases.append({"name": "sram", "placement": {role: "sram" for role in IN_MRAM}})
    return {"name": "layers", "phases": phases}


def config(layers=None, seed=0, mram=NOISY_MRAM, **schedule_options):
    return digits_config(schedule(layers, **schedule_options), mram=dict(mram), seed=seed, hidden=[32, 16], epochs=3)


def test_every_layer_in_sram_is_the_all_sram_run(registry):
    """Placing all three layers in SRAM by index gives the all-SRAM run: same values, accuracy and energy."""
    split = run_experiment(config({"sram": [0, 1, 2]}), registry=registry)
    plain = run_experiment(digits_config("all_sram", mram=dict(NOISY_MRAM), hidden=[32, 16], epochs=3), registry=registry)
    for role in ("weights", "biases"):
        np.testing.assert_array_equal(split.values[role], plain.values[role])
    assert split.final_test_accuracy == plain.final_test_accuracy
    assert split.total_energy_j == pytest.approx(plain.total_energy_j, rel=1e-12)
    assert split.metrics()["flips"] == 0


def test_protected_layers_see_no_faults_and_the_rows_add_up(registry):
    result = run_experiment(config({"sram": [0, -1]}), registry=registry)
    rows = {(row.layer, row.memory): row for row in result.layer_accounting}
    assert set(rows) == {("layer0", "sram"), ("layer1", "mram"), ("layer2", "sram")}
    assert rows["layer0", "sram"].total_flips == rows["layer2", "sram"].total_flips == 0
    assert rows["layer1", "mram"].total_flips > 0
    # Only layer 1's weights and biases live in MRAM: its row is the whole of MRAM's accounting.
    mram = next(row for row in result.accounting if row.memory == "mram")
    assert (mram.bits_written, mram.bits_read, mram.total_flips) == (
        rows["layer1", "mram"].bits_written, rows["layer1", "mram"].bits_read, rows["layer1", "mram"].total_flips)
    assert rows["layer1", "mram"].write_energy_j == pytest.approx(mram.write_energy_j, rel=1e-12)
    metrics = result.metrics()
    assert metrics["layer1.mram.mram.flips"] == rows["layer1", "mram"].total_flips
    assert metrics["layer0.sram.mram.write_energy_j"] > 0


def test_a_layer_placement_in_a_batch_equals_the_run_alone(registry):
    configs = [config({"sram": [0, -1]}, seed=0), config(None, seed=1), config({"sram": [1]}, seed=2)]
    batched = run_batch(configs, registry=registry)
    for cfg, together in zip(configs, batched):
        alone = run_experiment(copy.deepcopy(cfg), registry=registry)
        for role in ("weights", "biases"):
            np.testing.assert_array_equal(together.values[role], alone.values[role])
        np.testing.assert_equal(together.metrics(), alone.metrics())  # NaN equals NaN here (a diverged loss)


def test_layers_move_with_the_phase(registry):
    """A first phase with layers in another memory, then all SRAM: the split role is read back and rewritten."""
    result = run_experiment(config({"sram": [0]}, mram={"ber": 1e-6}, then_sram=True), registry=registry)
    # the second phase's layer rows hold the migration alone: each layer read once, nothing written
    later = [row for row in result.layer_accounting if row.phase == "sram"]
    assert later and all(row.bits_written == 0 and row.bits_read > 0 for row in later)
    assert result.final_test_accuracy > 0.5


@pytest.mark.parametrize("layers, key, expected", [
    ({"sram": [3]}, "schedule.phases[0].placement.layers.sram", "indices of the network's 3 parameter layers"),
    ({"sram": [-4]}, "schedule.phases[0].placement.layers.sram", "indices of the network's 3 parameter layers"),
    ({"dram": [0]}, "schedule.phases[0].placement.layers.dram", "the name of a configured memory"),
    ({"sram": 0}, "schedule.phases[0].placement.layers.sram", "a list of layer indices"),
    ({"sram": ["first"]}, "schedule.phases[0].placement.layers.sram", "a list of layer indices"),
    ({"sram": [0], "mram": [0]}, "schedule.phases[0].placement.layers.mram", "layers not placed twice"),
    ([0, -1], "schedule.phases[0].placement.layers", "a mapping from memory name"),
])
def test_bad_layer_placements_are_refused_before_any_work(registry, layers, key, expected):
    with pytest.raises(ConfigError) as error:
        run_experiment(config(layers), registry=registry)
    assert error.value.key == key
    assert expected in str(error.value)

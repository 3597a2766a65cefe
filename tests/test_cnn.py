"""The cnn trainer and the optimizers: accuracy on digits, every tensor through the store, the replica axis,
and clear errors for layer lists that cannot work."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import digits_config

import memtech
from memtech import ConfigError, run_experiment
from memtech.storage.replicas import ReplicaStore
from memtech.storage import ROLES, Memory, SimClock, TensorStore

POOLS = [{"type": "conv", "channels": 4, "kernel": 3, "padding": 1}, {"type": "relu"}, {"type": "maxpool", "size": 2},
         {"type": "conv", "channels": 6, "kernel": 3, "stride": 2, "padding": 1}, {"type": "relu"},
         {"type": "avgpool", "size": 2}, {"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "relu"}]


def cnn_config(schedule="all_sram", **trainer):
    config = digits_config(schedule)
    config["trainer"] = {"name": "cnn", **trainer}
    return config


def test_cnn_reaches_095_on_digits_all_sram_in_about_a_second(registry):
    result = run_experiment(cnn_config(), registry=registry)
    assert result.iterations == 10 * 43 and not result.diverged
    assert result.final_test_accuracy >= 0.95  # measured 0.960-0.982, seeds 0-4
    assert result.model["input_shape"] == [1, 8, 8]


def test_lenet5_runs_on_the_digits_padded_to_28x28(registry):
    from test_conf import compose_config

    trainer = compose_config(["trainer=lenet5"]).trainer
    config = cnn_config(**{**{k: v for k, v in dict(trainer).items() if k != "layers"}, "input_padding": 10, "epochs": 6})
    config["trainer"]["layers"] = [dict(layer) for layer in trainer.layers]
    config["memories"]["sram"]["capacity_mb"] = 4.0
    result = run_experiment(config, registry=registry)
    assert result.final_test_accuracy >= 0.85  # 6 epochs of 22 steps: measured 0.909-0.922, seeds 0-2
    # LeNet-5's 61,706 parameters: C1 156, C3 2,416, C5 48,120, F6 10,164, output 850
    assert result.values["weights"].size + result.values["biases"].size == 61_706


def _store(trainer, batch, memories):
    return TensorStore(trainer.role_sizes(batch), memories, np, SimClock())


@pytest.mark.parametrize("optimizer", [{"momentum": 0.9}, {"optimizer": "adam", "learning_rate": 0.01}])
def test_k_replicas_of_one_seed_are_k_copies_of_the_single_run(registry, optimizer):
    cls = registry.trainer("cnn")
    params = cls.build_params({"layers": POOLS, **optimizer}, "trainer")
    k, batch = 3, 5
    single = cls(params, 64, 10, np, input_shape=(1, 8, 8))
    batched = cls(params, 64, 10, np, replicas=k, input_shape=(1, 8, 8))
    sram = registry.memory("sram")()
    alone = _store(single, batch, {"sram": Memory("sram", sram, 0)})
    together = ReplicaStore([_store(batched, batch, {"sram": Memory("sram", sram, 0)}) for _ in range(k)], np)
    alone.enter_phase("p", dict.fromkeys(ROLES, "sram"), single.initial_values(np.random.default_rng(4)))
    initial = batched.initial_values([np.random.default_rng(4) for _ in range(k)])
    for r, store in enumerate(together.stores):
        store.enter_phase("p", dict.fromkeys(ROLES, "sram"), {role: v.reshape(k, -1)[r] for role, v in initial.items()})
    rng = np.random.default_rng(0)
    for _ in range(6):
        x, y = rng.random((batch, 64)).astype(np.float32), rng.integers(0, 10, batch)
        np.testing.assert_array_equal(batched.train_step(together, x, y), np.repeat(single.train_step(alone, x, y), k))
    for role in ("weights", "biases", "optimizer"):
        np.testing.assert_array_equal(together.peek(role), np.tile(alone.peek(role), k))


def test_every_stored_tensor_goes_through_its_memory_once_per_step(registry):
    """Activations in their own memory: each needed activation is written once and read back once per step;
    Adam's two moments are read and written once per step in the optimizer's memory."""
    cls = registry.trainer("cnn")
    params = cls.build_params({"layers": POOLS, "optimizer": "adam", "learning_rate": 0.01}, "trainer")
    trainer = cls(params, 64, 10, np, input_shape=(1, 8, 8))
    batch = 8
    sizes = trainer.role_sizes(batch)
    # stored per sample: relu outputs 4x8x8 and 6x2x2 (conv2 has stride 2), max-pool choices 4x4x4, conv2's
    # input 4x4x4, the dense layer's input 6 (avg-pooled to 6x1x1, flattened) and its relu output 16
    assert sizes["activations"] == batch * (256 + 24 + 64 + 64 + 6 + 16)
    assert sizes["optimizer"] == 2 * (sizes["weights"] + sizes["biases"])
    sram = registry.memory("sram")()
    memories = {name: Memory(name, sram, 0) for name in ("w", "act", "opt")}
    store = _store(trainer, batch, memories)
    store.enter_phase("p", {"weights": "w", "biases": "w", "activations": "act", "optimizer": "opt"},
                      trainer.initial_values(np.random.default_rng(0)))
    before = {name: (m.counters["p"].bits_read, m.counters["p"].bits_written) for name, m in memories.items()}
    rng = np.random.default_rng(1)
    steps = 4
    for _ in range(steps):
        trainer.train_step(store, rng.random((batch, 64)).astype(np.float32), rng.integers(0, 10, batch))
    moved = {name: (m.counters["p"].bits_read - before[name][0], m.counters["p"].bits_written - before[name][1])
             for name, m in memories.items()}
    assert moved["act"] == (steps * 32 * sizes["activations"],) * 2
    assert moved["opt"] == (steps * 32 * sizes["optimizer"],) * 2
    assert moved["w"] == (steps * 32 * (sizes["weights"] + sizes["biases"]),) * 2


def test_activation_faults_act_on_training(registry, quiet_overflow):
    placement = {"weights": "sram", "biases": "sram", "activations": "mram", "optimizer": "sram"}
    schedule = {"name": "act_in_mram", "phases": [{"name": "only", "placement": placement}]}
    clean = run_experiment(cnn_config(schedule, epochs=2), registry=registry)
    config = cnn_config(schedule, epochs=2)
    config["memories"]["mram"].update(ber=1e-3, write_error_mode="any", protection="sanity", capacity_mb=4.0)
    faulty = run_experiment(config, registry=registry)
    mram = [row for row in faulty.accounting if row.memory == "mram"]
    assert sum(row.flips["write"] for row in mram) > 1000 and sum(row.values_zeroed for row in mram) > 0
    assert faulty.epochs[0].train_loss != clean.epochs[0].train_loss


@pytest.mark.parametrize("optimizer, state", [({"momentum": 0.0}, 0), ({"momentum": 0.5}, 1),
                                              ({"optimizer": "adam"}, 2)])
def test_optimizer_state_sizes(registry, optimizer, state):
    cls = registry.trainer("mlp")
    trainer = cls(cls.build_params({"hidden": [5], **optimizer}, "trainer"), 4, 3, np)
    assert trainer.role_sizes(2)["optimizer"] == state * (4 * 5 + 5 * 3 + 5 + 3)


def test_adam_takes_the_published_step():
    """One Adam step by hand (Kingma & Ba 2015, Algorithm 1): the first step is lr * g / (|g| + eps')."""
    from memtech.optim import Adam

    class Store:
        state = np.zeros(4, np.float64)

        def read(self, role):
            return self.state

        def write(self, role, values):
            self.state = values

    adam, store = Adam(0.1, 0.9, 0.999, 1e-8), Store()
    grads = np.array([[0.5, -2.0]])  # one replica's row
    np.testing.assert_allclose(adam.step(np, store, grads), 0.1 * grads / (np.abs(grads) + 1e-8), rtol=1e-12)
    np.testing.assert_allclose(store.state.reshape(-1), [0.05, -0.2, 0.00025, 0.004], rtol=1e-12)
    second = adam.step(np, store, grads)  # same gradient again: the bias-corrected moments stay g and g^2
    np.testing.assert_allclose(second, 0.1 * grads / (np.abs(grads) + 1e-8), rtol=1e-9)


def test_adam_trains_the_digits_mlp(registry):
    result = run_experiment(digits_config("all_sram", optimizer="adam", learning_rate=0.003, epochs=10),
                            registry=registry)
    assert result.final_test_accuracy >= 0.93


@pytest.mark.parametrize("layers, key, message", [
    ([{"type": "lstm"}], "trainer.layers[0].type", "must be one of conv, maxpool, avgpool, relu, flatten, dense, got 'lstm'"),
    ([{"type": "conv", "channels": 4}], "trainer.layers[0].kernel", "must be an integer >= 1, got None"),
    ([{"type": "conv", "channels": 4, "kernel": 3, "dilation": 2}], "trainer.layers[0].dilation",
     "must be a key of a conv layer (one of channels, kernel, padding, stride), got 2"),
    ([{"type": "maxpool", "size": 0}], "trainer.layers[0].size", "must be an integer >= 1, got 0"),
    ([{"type": "conv", "channels": 4, "kernel": 3}, {"type": "dense", "units": 5}], "trainer.layers[1]",
     "must be a layer whose input is flat (put a flatten layer before it); its input is an image of 4 x 6 x 6, got 'dense'"),
    ([{"type": "conv", "channels": 4, "kernel": 9}], "trainer.layers[0]",
     "must be a layer whose 9x9 kernel fits its input: 8x8 pixels with padding 0 (pad the input, e.g. "
     "trainer.input_padding, or use a smaller kernel), got 'conv'"),
])
def test_layer_lists_that_cannot_work_fail_before_work(registry, layers, key, message):
    with pytest.raises(ConfigError) as err:
        run_experiment(cnn_config(layers=layers), registry=registry)
    assert str(err.value) == f"{key} {message}"


def test_a_cnn_on_flat_data_is_refused(registry):
    config = cnn_config()
    config["dataset"] = {"name": "synthetic", "n_samples": 50, "n_features": 12}
    with pytest.raises(ConfigError, match=r"^trainer.layers\[0\] must be a layer whose input is an image \(C, H, W\); "
                                          r"its input is a flat vector of 12 values, got 'conv'$"):
        run_experiment(config, registry=registry)


@pytest.mark.gpu
def test_cupy_cnn_matches_numpy(registry):
    cpu = run_experiment(cnn_config(epochs=3), registry=registry)
    gpu = run_experiment({**cnn_config(epochs=3), "device": "gpu"}, registry=registry)
    assert gpu.final_test_accuracy == pytest.approx(cpu.final_test_accuracy, abs=0.03)
    np.testing.assert_allclose(gpu.values["weights"], cpu.values["weights"], atol=1e-2)


def test_a_trainer_plugin_written_before_input_shape_still_runs(registry):
    """Third-party trainers whose __init__ has no input_shape get the call they were written for."""
    from memtech.plugins import load_plugins

    mlp = registry.trainer("mlp")

    class OldStyle(mlp):
        name = "old_style"

        def __init__(self, params, n_features, n_classes, xp, replicas=1):
            super().__init__(params, n_features, n_classes, xp, replicas)

    class Plugin:
        @memtech.hookimpl
        def memtech_register_trainers(self, register):
            register(OldStyle)

    with_old = load_plugins(entry_points=False, extra=[Plugin()])
    config = digits_config("all_sram", epochs=1)
    config["trainer"]["name"] = "old_style"
    assert run_experiment(config, registry=with_old).final_test_accuracy > 0.5

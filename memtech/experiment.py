"""Validate a composed configuration and run it: the engine behind ``memtech-run`` and the Python API.

    from memtech.experiment import run_experiment
    result = run_experiment({"memories": {...}, "schedule": {...}, "trainer": {...}, "dataset": {...}})

The whole configuration is validated (and every placement checked against memory capacities) before any
training starts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from memtech import backend
from memtech.dataset import Data, Dataset
from memtech.errors import CapacityError, ConfigError
from memtech.memory import MemoryTechnology
from memtech.params import knob
from memtech.plugins import Registry, get_registry
from memtech.results import EpochRecord, MemoryPhaseTotals, RunResult
from memtech.schedule import Schedule
from memtech.storage import Memory, SimClock, TensorStore
from memtech.trainer import Trainer

# Keys the engine reads; the others belong to the layers around it (tracking, Hydra).
ENGINE_KEYS = {"seed", "device", "memories", "schedule", "trainer", "dataset", "processor"}
PASSIVE_KEYS = {"tracking", "hydra", "name", "description", "plugins_dir", "progress", "output_dir", "experiment"}


@dataclass(frozen=True)
class ProcessorParams:
    compute_ns_per_mac: float = knob(
        0.001, unit="ns/MAC", min=0.0,
        help="simulated compute time per multiply-accumulate (assumption: 1 TMAC/s accelerator)")


@dataclass
class ExperimentSpec:
    """A validated configuration: every plugin resolved, every value checked."""

    config: dict[str, Any]
    seed: int
    device: str
    memories: dict[str, MemoryTechnology]
    schedule: Schedule
    trainer_cls: type[Trainer]
    trainer_params: Any
    dataset: Dataset
    processor: ProcessorParams


def _mapping(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key)
    if not isinstance(value, Mapping):
        raise ConfigError(key, value, "a mapping")
    return dict(value)


def build_spec(config: Mapping[str, Any], registry: Registry | None = None) -> ExperimentSpec:
    """Validate ``config`` and resolve its plugins; raises ConfigError naming key, value and expectation."""
    from memtech import params as _params

    registry = registry or get_registry()
    config = dict(config)
    for key in config:
        if key not in ENGINE_KEYS | PASSIVE_KEYS:
            raise ConfigError(key, config[key], "a known top-level key (one of " + ", ".join(sorted(ENGINE_KEYS)) + ", ...)")
    seed = config.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("seed", seed, "a non-negative integer")
    device = config.get("device", "cpu")
    if device not in backend.DEVICES:
        raise ConfigError("device", device, "one of " + ", ".join(backend.DEVICES))

    memories: dict[str, MemoryTechnology] = {}
    for name, memory_config in _mapping(config, "memories").items():
        key = f"memories.{name}"
        if not isinstance(memory_config, Mapping):
            raise ConfigError(key, memory_config, "a mapping with a 'technology' key")
        technology = memory_config.get("technology")
        cls = registry.memory(technology, key=f"{key}.technology")
        memories[name] = cls.from_config({k: v for k, v in memory_config.items() if k != "technology"}, key)
    if not memories:
        raise ConfigError("memories", {}, "at least one memory")

    schedule = Schedule.from_config(_mapping(config, "schedule"), memories.keys())

    trainer_config = _mapping(config, "trainer")
    trainer_cls = registry.trainer(trainer_config.get("name"), key="trainer.name")
    trainer_params = trainer_cls.build_params(trainer_config, "trainer")

    dataset_config = _mapping(config, "dataset")
    dataset_cls = registry.dataset(dataset_config.get("name"), key="dataset.name")
    dataset = dataset_cls.from_config(dataset_config, "dataset")

    processor = _params.build(ProcessorParams, config.get("processor") or {}, "processor")
    return ExperimentSpec(config, seed, device, memories, schedule, trainer_cls, trainer_params, dataset, processor)


def check_capacity(spec: ExperimentSpec, role_sizes: Mapping[str, int], bits_per_value: Mapping[str, int]) -> None:
    """Every phase's placement must fit: an error names the tensors, their sizes and the capacity."""
    for phase in spec.schedule.phases:
        needed: dict[str, list[tuple[str, int]]] = {}
        for role, n_values in role_sizes.items():
            if n_values > 0:
                memory = phase.placement[role]
                needed.setdefault(memory, []).append((role, n_values * bits_per_value[memory]))
        for memory, tensors in needed.items():
            total = sum(bits for _, bits in tensors)
            capacity = spec.memories[memory].capacity_bits
            if total > capacity:
                listing = ", ".join(f"{role} {bits} bit" for role, bits in tensors)
                raise CapacityError(
                    f"memories.{memory}.capacity_mb must hold the tensors placed there in phase {phase.name!r} "
                    f"({listing}; {total} bit in all), got {spec.memories[memory].params.capacity_mb} MB = {capacity} bit"
                )


EVAL_CHUNK = 1024  # test samples scored at once: bounds a CNN's im2col buffers on large test sets


def _evaluate(trainer: Trainer, values: Mapping[str, Any], x: Any, y: Any, xp: Any) -> tuple[float, float]:
    """Mean test loss and accuracy of replica 0 (``values`` as a read of their memory returns them; evaluation
    costs no accesses)."""
    losses, correct = [], 0
    with np.errstate(all="ignore"):
        for start in range(0, len(y), EVAL_CHUNK):
            xs, ys = x[start:start + EVAL_CHUNK], y[start:start + EVAL_CHUNK]
            logits = trainer.logits(values, xs)[0]
            shifted = logits - logits.max(axis=1, keepdims=True)
            log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
            losses.append((float(-log_probs[xp.arange(len(ys)), ys].mean()), len(ys)))
            correct += int((logits.argmax(axis=1) == ys).sum())
    loss = losses[0][0] if len(losses) == 1 else sum(mean * n for mean, n in losses) / len(y)
    return loss, correct / len(y)


def _stored_fields(memory: Memory) -> dict[str, int]:
    """Every field of a memory's codewords (most significant data field first, then check bits) at 0 flips."""
    fmt = memory.format
    fields = dict.fromkeys((fmt.field_of_bit(bit) for bit in reversed(range(fmt.bits))), 0)
    if _check_bits(memory):
        fields["check"] = 0
    return fields


def _totals(memories: Mapping[str, Memory]) -> list[MemoryPhaseTotals]:
    rows = []
    for memory in memories.values():
        memory.settle_counts()  # failures still counted on the GPU
        energy, capacity = memory.energy, memory.technology.capacity_bits
        fields = _stored_fields(memory)  # a field that never flipped still reports 0, so runs compare key by key
        for phase, c in memory.counters.items():
            rows.append(
                MemoryPhaseTotals(
                    memory=memory.name, phase=phase, technology=memory.technology.name,
                    bits_read=c.bits_read, bits_written=c.bits_written,
                    read_energy_j=c.bits_read * energy.read_j_per_bit,
                    write_energy_j=c.bits_written * energy.write_j_per_bit,
                    transfer_energy_j=(c.bits_read + c.bits_written) * energy.transfer_j_per_bit,
                    leakage_energy_j=energy.leakage_w_per_bit * capacity * c.occupied_time_s,
                    refresh_energy_j=energy.refresh_w_per_bit * capacity * c.occupied_time_s,
                    read_time_s=c.read_time_s, write_time_s=c.write_time_s, occupied_time_s=c.occupied_time_s,
                    flips=dict(c.flips), flips_by_field={**fields, **c.flips_by_field},
                    errors_detected=c.errors_detected, errors_corrected=c.errors_corrected, values_zeroed=c.values_zeroed,
                    flips_by_bit=c.flips_by_bit, cells_worn_out=c.cells_worn_out,
                )
            )
    return rows


EpochCallback = Callable[[EpochRecord, int], None]  # (record, total epochs)


def _prepare(spec: ExperimentSpec, data: Data | None, xp: Any) -> tuple[Data, Any, int, dict[str, int], dict[str, Memory]]:
    """The checks that need the data: load it, size every tensor role and check each memory's capacity."""
    data = data or spec.dataset.load_checked()
    trainer = spec.trainer_cls.create(spec.trainer_params, data.n_features, data.n_classes, xp,
                                      input_shape=data.sample_shape)
    batch_size = min(spec.trainer_params.batch_size, len(data.x_train))
    role_sizes = trainer.role_sizes(batch_size)
    memories = {name: Memory(name, tech, spec.seed) for name, tech in spec.memories.items()}
    check_capacity(spec, role_sizes, {name: m.format.bits + _check_bits(m) for name, m in memories.items()})
    return data, trainer, batch_size, role_sizes, memories


def preflight(spec: ExperimentSpec, data: Data | None = None) -> Data:
    """Every check :func:`run_experiment` makes before its work starts (data readable, capacities), without
    the work; returns the data so that jobs sharing a dataset load it once."""
    return _prepare(spec, data, np)[0]


def run_experiment(
    config: Mapping[str, Any] | ExperimentSpec,
    *,
    registry: Registry | None = None,
    on_epoch: EpochCallback | None = None,
    data: Data | None = None,
) -> RunResult:
    """Train as configured and return the run's metrics, accounting and trained values."""
    spec = config if isinstance(config, ExperimentSpec) else build_spec(config, registry)
    xp = backend.array_module(spec.device)
    data, trainer, batch_size, role_sizes, memories = _prepare(spec, data, xp)

    # ---- all checks done: the work starts here ----
    clock = SimClock()
    store = TensorStore(role_sizes, memories, xp, clock)
    init_rng = np.random.default_rng([spec.seed, 1])
    shuffle_rng = np.random.default_rng([spec.seed, 2])
    inputs_train, inputs_test = data.network_inputs()
    x_train, y_train = xp.asarray(inputs_train), xp.asarray(data.y_train)
    x_test, y_test = xp.asarray(inputs_test), xp.asarray(data.y_test)
    n_train = len(data.x_train)
    batches_per_epoch = math.ceil(n_train / batch_size)
    epochs = spec.trainer_params.epochs
    total_iterations = epochs * batches_per_epoch
    bounds = spec.schedule.iteration_bounds(total_iterations)
    phase_at = [phase for phase, start, end in bounds for _ in range(start, end)]
    compute_s_by_batch: dict[int, float] = {}  # the last batch of an epoch may be smaller

    def compute_s(batch: int) -> float:
        if batch not in compute_s_by_batch:
            compute_s_by_batch[batch] = trainer.macs_per_step(batch) * spec.processor.compute_ns_per_mac * 1e-9
        return compute_s_by_batch[batch]

    compute_time_s = 0.0

    def stored_values() -> dict[str, Any]:
        return {role: store.peek(role) for role in ("weights", "biases")}

    # A phase whose share rounds to no iteration is skipped: nothing is loaded into its memories.
    first_phase = next(phase for phase, start, end in bounds if end > start)
    store.enter_phase(first_phase.name, first_phase.placement, trainer.initial_values(init_rng))
    records: list[EpochRecord] = []
    diverged_at: int | None = None
    iteration = 0
    # Every interval of simulated time is charged (leakage, refresh) to the memories holding data at its end,
    # in the phase then current; the initial load and phase-boundary migrations are included this way.
    charged_until_s = 0.0
    # A diverging run overflows in the matmuls; that is its result (recorded as diverged), not something to
    # warn about once per step. NumPy only: CuPy does not warn.
    with np.errstate(all="ignore"):
        for epoch in range(1, epochs + 1):
            order = xp.asarray(shuffle_rng.permutation(n_train))
            losses = []
            for b in range(batches_per_epoch):
                phase = phase_at[iteration]
                if phase.name != store.phase:
                    store.enter_phase(phase.name, phase.placement)
                index = order[b * batch_size:(b + 1) * batch_size]
                loss = trainer.train_step(store, x_train[index], y_train[index])
                step_compute_s = compute_s(len(index))
                clock.advance(step_compute_s)
                compute_time_s += step_compute_s
                step_s, charged_until_s = clock.now_s - charged_until_s, clock.now_s
                for name in store.memories_in_use():
                    memories[name].counters[phase.name].occupied_time_s += step_s
                losses.append(loss)
                iteration += 1
                if not bool(xp.isfinite(loss).all()):
                    # A diverged run is a result, not a crash: record the step and stop training there.
                    diverged_at = iteration
                    break
            train_loss = float(xp.stack(losses).mean()) if losses else float("nan")
            test_loss, test_accuracy = _evaluate(trainer, stored_values(), x_test, y_test, xp)
            record = EpochRecord(epoch, iteration, store.phase, train_loss, test_loss, test_accuracy,
                                 sum(r.energy_j for r in _totals(memories)), clock.now_s)
            records.append(record)
            if on_epoch is not None:
                on_epoch(record, epochs)
            if diverged_at is not None:
                break

        final = stored_values()
        test_loss, test_accuracy = _evaluate(trainer, final, x_test, y_test, xp)
    return RunResult(
        config=dict(spec.config),
        epochs=records,
        accounting=_totals(memories),
        final_test_accuracy=test_accuracy,
        final_test_loss=test_loss,
        iterations=iteration,
        sim_time_s=clock.now_s,
        compute_time_s=compute_time_s,
        diverged=diverged_at is not None,
        diverged_at_iteration=diverged_at,
        values={role: backend.to_numpy(v) for role, v in final.items()},
        model={
            "trainer": spec.trainer_cls.name,
            # resolved values, defaults included: a later change of a default must not alter a stored model
            "trainer_params": _resolved(spec.trainer_params, spec.config["trainer"]),
            "n_features": data.n_features,
            "n_classes": data.n_classes,
            "input_shape": list(data.sample_shape),
            # what new data in [0, 1] needs before scoring, as training had it
            "input_normalization": data.normalization.to_json() if data.normalization else None,
        },
        plugins=_plugin_versions(spec, registry or get_registry()),
        memory_cards={name: tech.describe() for name, tech in spec.memories.items()},
    )


def _resolved(params: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    if dataclasses.is_dataclass(params):
        return dataclasses.asdict(params)
    return {k: v for k, v in config.items() if k != "name"}


def _check_bits(memory: Memory) -> int:
    from memtech.protection import make_code

    return make_code(memory.params.protection, memory.format.bits).check_bits


def _plugin_versions(spec: ExperimentSpec, registry: Registry) -> dict[str, str]:
    used = {("trainer", spec.trainer_cls.name), ("dataset", spec.dataset.name)}
    used |= {("memory", tech.name) for tech in spec.memories.values()}
    out = {}
    for kind, name in sorted(used):
        info = registry.components[kind].get(name)
        if info is not None:
            out[f"{kind}.{name}"] = f"{info.source} {info.version}".strip()
    return out

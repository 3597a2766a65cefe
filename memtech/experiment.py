"""Validate a composed configuration and run it: the engine behind ``memtech-run`` and the Python API.

    from memtech.experiment import run_experiment
    result = run_experiment({"memories": {...}, "schedule": {...}, "trainer": {...}, "dataset": {...}})

The whole configuration is validated (and every placement checked against memory capacities) before any
training starts.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from memtech import backend, resources
from memtech.dataset import Data, Dataset
from memtech.errors import CapacityError, ConfigError
from memtech.memory import MemoryTechnology, check_models
from memtech.params import knob
from memtech.plugins import Registry, get_registry
from memtech.storage.replicas import load_replicas
from memtech.results import EpochRecord, MemoryPhaseTotals, RunResult
from memtech.schedule import Schedule
from memtech.storage import AccessCounters, Memory, SimClock, TensorStore, layer_memories
from memtech.trainer import Trainer

# Keys the engine reads; the others belong to the layers around it (tracking, Hydra).
ENGINE_KEYS = {"seed", "device", "memories", "schedule", "trainer", "dataset", "processor"}
PASSIVE_KEYS = {"tracking", "hydra", "name", "description", "plugins_dir", "plugins_strict", "progress", "output_dir",
                "experiment", "resume"}


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
    backend.check_device(device)  # CuPy and a GPU for device=gpu, before any work or run is recorded

    memories: dict[str, MemoryTechnology] = {}
    for name, memory_config in _mapping(config, "memories").items():
        key = f"memories.{name}"
        if not isinstance(memory_config, Mapping):
            raise ConfigError(key, memory_config, "a mapping with a 'technology' key")
        technology = memory_config.get("technology")
        cls = registry.memory(technology, key=f"{key}.technology")
        memories[name] = cls.from_config({k: v for k, v in memory_config.items() if k != "technology"}, key)
        check_models(memories[name], key, registry.origin("memory", technology))
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


def check_layer_placement(spec: ExperimentSpec, layer_slices: Mapping[str, Sequence[tuple[int, int]]]) -> None:
    """A per-layer placement must name layers the network has (0 .. n-1, or -n .. -1 from the end)."""
    n_layers = len(next(iter(layer_slices.values()), []))
    for i, phase in enumerate(spec.schedule.phases):
        for memory, indices in (phase.placement.get("layers") or {}).items():
            key = f"schedule.phases[{i}].placement.layers.{memory}"
            if not n_layers:
                raise ConfigError(key, list(indices), f"a trainer that stores its parameters layer by layer "
                                                      f"({spec.trainer_cls.name} does not)")
            for index in indices:
                if not -n_layers <= index < n_layers:
                    raise ConfigError(key, list(indices), f"indices of the network's {n_layers} parameter layers "
                                                          f"(0 to {n_layers - 1}, or -{n_layers} to -1 from the end)")


def _placed_values(placement: Mapping[str, Any], role: str, n_values: int,
                   layer_slices: Mapping[str, Sequence[tuple[int, int]]]) -> list[tuple[str, str, int]]:
    """(memory, tensor, values) of ``role`` under ``placement``: one entry, or one per layer."""
    slices = layer_slices.get(role)
    if not placement.get("layers") or not slices:
        return [(placement[role], role, n_values)]
    memories = layer_memories(placement, role, len(slices))
    return [(memory, f"{role} of layer {j}", stop - start) for j, ((start, stop), memory) in enumerate(zip(slices, memories))]


def check_capacity(spec: ExperimentSpec, role_sizes: Mapping[str, int], bits_per_value: Mapping[str, int],
                   layer_slices: Mapping[str, Sequence[tuple[int, int]]] | None = None) -> None:
    """Every phase's placement must fit: an error names the tensors, their sizes and the capacity."""
    for phase in spec.schedule.phases:
        needed: dict[str, list[tuple[str, int]]] = {}
        for role, n_values in role_sizes.items():
            if n_values > 0:
                for memory, tensor, n in _placed_values(phase.placement, role, n_values, layer_slices or {}):
                    needed.setdefault(memory, []).append((tensor, n * bits_per_value[memory]))
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


def _evaluate(trainer: Trainer, values: Mapping[str, Any], x: Any, y: Any, xp: Any) -> list[tuple[float, float]]:
    """Mean test loss and accuracy of every replica (``values`` as a read of their memory returns them;
    evaluation costs no accesses). Each replica's scores are its own GEMMs, so they equal its scores alone."""
    k = getattr(trainer, "replicas", 1)
    losses: list[list[tuple[float, int]]] = [[] for _ in range(k)]
    correct = [0] * k
    with np.errstate(all="ignore"):
        for start in range(0, len(y), EVAL_CHUNK):
            xs, ys = x[start:start + EVAL_CHUNK], y[start:start + EVAL_CHUNK]
            all_logits = trainer.logits(values, xs)
            for r in range(k):
                logits = all_logits[r]
                shifted = logits - logits.max(axis=1, keepdims=True)
                log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
                losses[r].append((float(-log_probs[xp.arange(len(ys)), ys].mean()), len(ys)))
                correct[r] += int((logits.argmax(axis=1) == ys).sum())
    out = []
    for chunks, right in zip(losses, correct):
        loss = chunks[0][0] if len(chunks) == 1 else sum(mean * n for mean, n in chunks) / len(y)
        out.append((loss, right / len(y)))
    return out


def _stored_fields(memory: Memory) -> dict[str, int]:
    """Every field of a memory's codewords (most significant data field first, then check bits) at 0 flips."""
    fmt = memory.format
    fields = dict.fromkeys((fmt.field_of_bit(bit) for bit in reversed(range(fmt.bits))), 0)
    if _check_bits(memory):
        fields["check"] = 0
    return fields


def _row(memory: Memory, phase: str, c: AccessCounters, fields: Mapping[str, int], layer: str = "",
         static: bool = True) -> MemoryPhaseTotals:
    """One accounting row; a layer's row has no static energy (leakage and refresh belong to the array)."""
    energy, capacity = memory.energy, memory.technology.capacity_bits
    return MemoryPhaseTotals(
        memory=memory.name, phase=phase, technology=memory.technology.name,
        bits_read=c.bits_read, bits_written=c.bits_written,
        read_energy_j=c.bits_read * energy.read_j_per_bit,
        write_energy_j=c.bits_written * energy.write_j_per_bit,
        transfer_energy_j=(c.bits_read + c.bits_written) * energy.transfer_j_per_bit,
        leakage_energy_j=energy.leakage_w_per_bit * capacity * c.occupied_time_s if static else 0.0,
        refresh_energy_j=energy.refresh_w_per_bit * capacity * c.occupied_time_s if static else 0.0,
        read_time_s=c.read_time_s, write_time_s=c.write_time_s, occupied_time_s=c.occupied_time_s,
        flips=dict(c.flips), flips_by_field={**fields, **c.flips_by_field},
        errors_detected=c.errors_detected, errors_corrected=c.errors_corrected, values_zeroed=c.values_zeroed,
        flips_by_bit=c.flips_by_bit, cells_worn_out=c.cells_worn_out, layer=layer,
    )


def _totals(memories: Mapping[str, Memory]) -> list[MemoryPhaseTotals]:
    rows = []
    for memory in memories.values():
        memory.settle_counts()  # failures still counted on the GPU
        fields = _stored_fields(memory)  # a field that never flipped still reports 0, so runs compare key by key
        rows.extend(_row(memory, phase, c, fields) for phase, c in memory.phase_totals().items())
    return rows


def _layer_totals(memories: Mapping[str, Memory]) -> list[MemoryPhaseTotals]:
    """Per layer (with a per-layer placement), memory and phase: what that layer's weights and biases cost."""
    rows = []
    for memory in memories.values():
        fields = _stored_fields(memory)
        rows.extend(_row(memory, phase, c, fields, layer=layer, static=False)
                    for (phase, layer), c in sorted(memory.layer_counters.items()))
    return rows


EpochCallback = Callable[[EpochRecord, int], None]  # (record, total epochs)

# What the replicas of one batched job must share, because it shapes the arrays of the batched step: the
# network and its optimizer (trainer), the data set (and so the number of steps), the device. Everything
# else — seed, memories, schedule, processor — is each replica's own.
SHARED_KEYS = ("trainer", "dataset", "device")


def batch_key(config: Mapping[str, Any]) -> str:
    """Jobs whose configs give the same key can train as replicas of one batched job."""
    import json

    shared = {key: config.get(key, "cpu" if key == "device" else None) for key in SHARED_KEYS}
    return json.dumps(shared, sort_keys=True, default=str)


def _check_shared(specs: Sequence[ExperimentSpec]) -> None:
    if not specs:
        raise ValueError("run_batch needs at least one experiment")
    first = specs[0].config
    for number, spec in enumerate(specs[1:], start=1):
        for key in SHARED_KEYS:
            if batch_key({key: spec.config.get(key)}) != batch_key({key: first.get(key)}):
                raise ConfigError(key, spec.config.get(key),
                                  f"the same {key} in every replica of a batch (replica 0 has {first.get(key)!r}, "
                                  f"replica {number} differs; only seed, memories, schedule and processor may "
                                  "differ between replicas)")
    if len(specs) > 1 and not specs[0].trainer_cls.supports_replicas:
        raise ConfigError("trainer.name", specs[0].trainer_cls.name,
                          "a trainer that trains replicas in one batch (supports_replicas); run its jobs one by one")


def _memories(spec: ExperimentSpec, role_sizes: Mapping[str, int],
              layer_slices: Mapping[str, Sequence[tuple[int, int]]]) -> dict[str, Memory]:
    """The run's memory instances, after checking that every phase's placement fits their capacities."""
    check_layer_placement(spec, layer_slices)
    memories = {name: Memory(name, tech, spec.seed) for name, tech in spec.memories.items()}
    check_capacity(spec, role_sizes, {name: m.format.bits + _check_bits(m) for name, m in memories.items()}, layer_slices)
    return memories


def _prepare(specs: Sequence[ExperimentSpec], data: Data | None, xp: Any
             ) -> tuple[Data, Any, int, dict[str, int], list[dict[str, Memory]]]:
    """The checks that need the data: load it, size every tensor role and check each memory's capacity."""
    _check_shared(specs)
    spec = specs[0]
    data = data or spec.dataset.load_checked()
    trainer = spec.trainer_cls.create(spec.trainer_params, data.n_features, data.n_classes, xp,
                                      replicas=len(specs), input_shape=data.sample_shape)
    n_train = len(data.x_train)
    batch_size = min(spec.trainer_params.batch_size, n_train)  # a quick run on a small subset: full batches
    resources.check_iterations(spec.trainer_params.epochs, math.ceil(n_train / batch_size), batch_size, n_train)
    role_sizes = trainer.role_sizes(batch_size)  # of one replica
    memories = [_memories(s, role_sizes, trainer.layer_slices()) for s in specs]
    resources.check_memory(role_sizes, len(specs), xp)
    return data, trainer, batch_size, role_sizes, memories


def preflight(spec: ExperimentSpec, data: Data | None = None) -> Data:
    """Every check :func:`run_experiment` makes before its work starts (data readable, capacities), without
    the work; returns the data so that jobs sharing a dataset load it once."""
    return _prepare([spec], data, np)[0]


class _ReplicaRun:
    """One replica's own run inside a batch: its memories, simulated clock, store, data order, schedule,
    counters and records. Everything here is what the replica would have alone."""

    def __init__(self, spec: ExperimentSpec, memories: dict[str, Memory], role_sizes: Mapping[str, int],
                 xp: Any, total_iterations: int, macs_per_step: Callable[[int], int],
                 layer_slices: Mapping[str, Sequence[tuple[int, int]]]):
        self.spec = spec
        self.memories = memories
        self.clock = SimClock()
        self.store = TensorStore(role_sizes, memories, xp, self.clock, layer_slices)
        self.init_rng = np.random.default_rng([spec.seed, 1])
        self.shuffle_rng = np.random.default_rng([spec.seed, 2])
        self.total_iterations = total_iterations  # planned; a diverged replica stops before
        bounds = spec.schedule.iteration_bounds(total_iterations)
        self._phases = [phase for phase, _, _ in bounds]
        self._phase_ends = [end for _, _, end in bounds]  # non-decreasing; a phase holds [previous end, end)
        # A phase whose share rounds to no iteration is skipped: nothing is loaded into its memories.
        self.first_phase = next(phase for phase, start, end in bounds if end > start)
        self._macs_per_step = macs_per_step
        self._compute_s_by_batch: dict[int, float] = {}  # the last batch of an epoch may be smaller
        self.compute_time_s = 0.0
        # Every interval of simulated time is charged (leakage, refresh) to the memories holding data at its
        # end, in the phase then current; the initial load and phase-boundary migrations are included this way.
        self.charged_until_s = 0.0
        self.iteration = 0
        self.diverged_at: int | None = None
        self.records: list[EpochRecord] = []
        self.epoch_losses: list[Any] = []
        self.order: Any = None  # this epoch's data order

    @property
    def active(self) -> bool:
        return self.diverged_at is None

    def _compute_s(self, batch: int) -> float:
        if batch not in self._compute_s_by_batch:
            seconds = self._macs_per_step(batch) * self.spec.processor.compute_ns_per_mac * 1e-9
            self._compute_s_by_batch[batch] = seconds
        return self._compute_s_by_batch[batch]

    def before_step(self) -> None:
        # the first phase that ends after this iteration (bisect skips the empty ones)
        phase = self._phases[bisect.bisect_right(self._phase_ends, self.iteration)]
        if phase.name != self.store.phase:
            self.store.enter_phase(phase.name, phase.placement)

    def after_step(self, loss: Any, batch: int, xp: Any) -> None:
        """Charge the step's compute and occupancy; a non-finite loss freezes the replica as diverged."""
        step_compute_s = self._compute_s(batch)
        self.clock.advance(step_compute_s)
        self.compute_time_s += step_compute_s
        step_s, self.charged_until_s = self.clock.now_s - self.charged_until_s, self.clock.now_s
        phase = self.store.phase
        for name in self.store.memories_in_use():
            self.memories[name].counters[phase].occupied_time_s += step_s
        self.epoch_losses.append(loss)
        self.iteration += 1
        if not bool(xp.isfinite(loss).all()):
            # A diverged run is a result, not a crash: record the step and stop training it there.
            self.diverged_at = self.iteration

    def end_epoch(self, epoch: int, evaluation: tuple[float, float], xp: Any) -> EpochRecord:
        train_loss = float(xp.stack(self.epoch_losses).mean()) if self.epoch_losses else float("nan")
        self.epoch_losses = []
        test_loss, test_accuracy = evaluation
        record = EpochRecord(epoch, self.iteration, self.store.phase, train_loss, test_loss, test_accuracy,
                             sum(r.energy_j for r in _totals(self.memories)), self.clock.now_s)
        self.records.append(record)
        return record


def run_experiment(
    config: Mapping[str, Any] | ExperimentSpec,
    *,
    registry: Registry | None = None,
    on_epoch: EpochCallback | None = None,
    data: Data | None = None,
) -> RunResult:
    """Train as configured and return the run's metrics, accounting and trained values."""
    spec = config if isinstance(config, ExperimentSpec) else build_spec(config, registry)
    return run_batch([spec], registry=registry, on_epoch=[on_epoch], data=data)[0]


def run_batch(
    configs: Sequence[Mapping[str, Any] | ExperimentSpec],
    *,
    registry: Registry | None = None,
    on_epoch: Sequence[EpochCallback | None] | None = None,
    data: Data | None = None,
) -> list[RunResult]:
    """Train K experiments as K replicas of one batched job; result r equals ``run_experiment(configs[r])``.

    The experiments must share what :data:`SHARED_KEYS` names; every other setting is each replica's own.
    ``on_epoch[r]`` receives replica r's epoch records. Everything is validated before any work starts.
    """
    specs = [c if isinstance(c, ExperimentSpec) else build_spec(c, registry) for c in configs]
    callbacks = list(on_epoch) if on_epoch is not None else [None] * len(specs)
    if len(callbacks) != len(specs):
        raise ValueError(f"run_batch: {len(specs)} experiments but {len(callbacks)} epoch callbacks")
    spec = specs[0]
    xp = backend.array_module(spec.device)
    data, trainer, batch_size, role_sizes, memories = _prepare(specs, data, xp)
    if batch_size < spec.trainer_params.batch_size:  # said once per job, not silently
        print(f"memtech: trainer.batch_size={spec.trainer_params.batch_size} is more than the {batch_size} training "
              f"samples of {spec.dataset.name}: every step uses all {batch_size} (full-batch training)", file=sys.stderr)

    # ---- all checks done: the work starts here ----
    n_train = len(data.x_train)
    batches_per_epoch = math.ceil(n_train / batch_size)
    epochs = spec.trainer_params.epochs
    k = len(specs)
    runs = [_ReplicaRun(s, m, role_sizes, xp, epochs * batches_per_epoch, trainer.macs_per_step, trainer.layer_slices())
            for s, m in zip(specs, memories)]
    # one generator alone (as trainers always had it); one per replica in a batch: each starts as it would alone
    initial = trainer.initial_values(runs[0].init_rng if k == 1 else [run.init_rng for run in runs])
    store = load_replicas([run.store for run in runs], [(run.first_phase.name, run.first_phase.placement)
                                                        for run in runs], initial, xp)
    inputs_train, inputs_test = data.network_inputs()
    x_train, y_train = xp.asarray(inputs_train), xp.asarray(data.y_train)
    x_test, y_test = xp.asarray(inputs_test), xp.asarray(data.y_test)

    def stored_values() -> dict[str, Any]:
        return {role: store.peek(role) for role in ("weights", "biases")}

    # A diverging run overflows in the matmuls; that is its result (recorded as diverged), not something to
    # warn about once per step. NumPy only: CuPy does not warn.
    with np.errstate(all="ignore"):
        for epoch in range(1, epochs + 1):
            training = [run for run in runs if run.active]
            if not training:
                break
            for run in training:
                run.order = xp.asarray(run.shuffle_rng.permutation(n_train))
            for b in range(batches_per_epoch):
                for run in runs:
                    if run.active:
                        run.before_step()
                window = slice(b * batch_size, (b + 1) * batch_size)
                if k == 1:
                    index = runs[0].order[window]
                else:  # a frozen replica's rows are computed on its last order and ignored
                    index = xp.stack([run.order[window] for run in runs])
                loss = trainer.train_step(store, x_train[index], y_train[index])
                for r, run in enumerate(runs):
                    if run.active:
                        run.after_step(loss[r:r + 1], index.shape[-1], xp)
                        if not run.active and k > 1:
                            store.freeze(r)
                if not any(run.active for run in runs):
                    break
            evaluations = _evaluate(trainer, stored_values(), x_test, y_test, xp)
            for run, evaluation, callback in zip(runs, evaluations, callbacks):
                if run in training:  # a replica that diverged in an earlier epoch records no more epochs
                    record = run.end_epoch(epoch, evaluation, xp)
                    if callback is not None:
                        callback(record, epochs)

        final = stored_values()
        evaluations = _evaluate(trainer, final, x_test, y_test, xp)
    model = {
        "trainer": spec.trainer_cls.name,
        # resolved values, defaults included: a later change of a default must not alter a stored model
        "trainer_params": _resolved(spec.trainer_params, spec.config["trainer"]),
        "n_features": data.n_features,
        "n_classes": data.n_classes,
        "input_shape": list(data.sample_shape),
        # what new data in [0, 1] needs before scoring, as training had it
        "input_normalization": data.normalization.to_json() if data.normalization else None,
    }
    results = []
    for r, run in enumerate(runs):
        test_loss, test_accuracy = evaluations[r]
        results.append(RunResult(
            config=dict(run.spec.config),
            epochs=run.records,
            accounting=_totals(run.memories),
            layer_accounting=_layer_totals(run.memories),
            final_test_accuracy=test_accuracy,
            final_test_loss=test_loss,
            iterations=run.iteration,
            planned_iterations=run.total_iterations,
            sim_time_s=run.clock.now_s,
            compute_time_s=run.compute_time_s,
            diverged=run.diverged_at is not None,
            diverged_at_iteration=run.diverged_at,
            values={role: backend.to_numpy(v.reshape(k, -1)[r]) for role, v in final.items()},
            model=dict(model),
            plugins=_plugin_versions(run.spec, registry or get_registry()),
            memory_cards={name: tech.describe() for name, tech in run.spec.memories.items()},
        ))
    return results


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

"""Accounting pinned by hand for a tiny network: bits, energy, leakage over simulated time, latency.

The MLP 3-2-2 at batch 2 stores 3*2 + 2*2 = 10 weights, 2 + 2 = 4 biases and 2 * 2 = 4 hidden activations.
One training step, in order: read weights, read biases, write the hidden activations, read them back,
write weights, write biases. The first phase starts by writing the initial weights and biases; a role that
changes memory at a phase boundary is read from the old memory and written to the new one, both accesses
counted in the phase being entered. Leakage is charged for every interval of simulated time to the
memories holding data at its end.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from memtech.dataset import Data
from memtech.experiment import build_spec, run_experiment
from memtech.memory import BITS_PER_MB

N_WEIGHTS, N_BIASES, N_ACTIVATIONS = 10, 4, 4
BITS = 32  # float32, no protection code
COMPUTE_NS_PER_MAC = 0.5
MACS_PER_STEP = 3 * 2 * N_WEIGHTS  # forward + two backward products, batch 2


def tiny_data() -> Data:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    return Data(x, np.array([0, 1, 1, 0]), x[:2], np.array([0, 1]), 2)


SRAM = {"technology": "sram", "capacity_mb": 0.5, "read_energy_pj_per_bit": 0.5, "write_energy_pj_per_bit": 0.25,
        "read_latency_ns": 1.5, "write_latency_ns": 2.0, "leakage_mw_per_mb": 10.0, "access_width_bits": 64}
MRAM = {"technology": "stt_mram", "capacity_mb": 2.0, "read_energy_pj_per_bit": 0.2, "write_energy_pj_per_bit": 1.0,
        "read_latency_ns": 4.0, "write_latency_ns": 10.0, "leakage_mw_per_mb": 1.0, "access_width_bits": 128,
        "ber": 0.0, "thermal_stability": 80.0}


def config(schedule, epochs=1):
    return {
        "seed": 0,
        "memories": {"sram": SRAM, "mram": MRAM},
        "schedule": schedule,
        "trainer": {"name": "mlp", "hidden": [2], "batch_size": 2, "epochs": epochs},
        "dataset": {"name": "synthetic"},  # replaced by tiny_data()
        "processor": {"compute_ns_per_mac": COMPUTE_NS_PER_MAC},
    }


def access_ns(bits: int, width: int, latency_ns: float) -> float:
    return math.ceil(bits / width) * latency_ns


def leakage_w(memory: dict) -> float:
    return memory["leakage_mw_per_mb"] * 1e-3 / BITS_PER_MB * memory["capacity_mb"] * BITS_PER_MB


def row(result, memory, phase):
    return next(r for r in result.accounting if r.memory == memory and r.phase == phase)


def test_all_sram_accounting_matches_hand_computation(registry):
    result = run_experiment(config({"name": "all_sram"}), registry=registry, data=tiny_data())
    steps = 2  # 4 samples at batch 2, one epoch
    assert result.iterations == steps
    w, b, a = N_WEIGHTS * BITS, N_BIASES * BITS, N_ACTIVATIONS * BITS
    read_bits = steps * (w + b + a)
    written_bits = (w + b) + steps * (a + w + b)
    width = SRAM["access_width_bits"]
    read_ns = steps * sum(access_ns(n, width, SRAM["read_latency_ns"]) for n in (w, b, a))
    write_ns = access_ns(w, width, 2.0) + access_ns(b, width, 2.0) + steps * sum(
        access_ns(n, width, SRAM["write_latency_ns"]) for n in (a, w, b))
    compute_ns = steps * MACS_PER_STEP * COMPUTE_NS_PER_MAC
    sim_ns = read_ns + write_ns + compute_ns

    sram = row(result, "sram", "sram")
    assert [r.memory for r in result.accounting] == ["sram"]  # mram holds nothing: no row, no leakage
    assert (sram.bits_read, sram.bits_written) == (read_bits, written_bits)
    assert sram.read_energy_j == pytest.approx(read_bits * 0.5e-12, rel=1e-12)
    assert sram.write_energy_j == pytest.approx(written_bits * 0.25e-12, rel=1e-12)
    assert sram.transfer_energy_j == 0.0
    assert sram.read_time_s == pytest.approx(read_ns * 1e-9, rel=1e-12)
    assert sram.write_time_s == pytest.approx(write_ns * 1e-9, rel=1e-12)
    assert result.sim_time_s == pytest.approx(sim_ns * 1e-9, rel=1e-12)
    assert result.compute_time_s == pytest.approx(compute_ns * 1e-9, rel=1e-12)
    assert sram.occupied_time_s == pytest.approx(sim_ns * 1e-9, rel=1e-12)
    assert sram.leakage_energy_j == pytest.approx(leakage_w(SRAM) * sim_ns * 1e-9, rel=1e-12)
    assert result.total_energy_j == pytest.approx(
        read_bits * 0.5e-12 + written_bits * 0.25e-12 + leakage_w(SRAM) * sim_ns * 1e-9, rel=1e-12)
    assert result.metrics()["memory_latency_s"] == pytest.approx((read_ns + write_ns) * 1e-9, rel=1e-12)
    assert result.epochs[-1].energy_j == pytest.approx(result.total_energy_j, rel=1e-12)


def test_hybrid_accounting_counts_the_migration_as_accesses(registry):
    schedule = {"name": "mram_then_sram", "first_fraction": 0.5}
    result = run_experiment(config(schedule, epochs=2), registry=registry, data=tiny_data())
    assert result.iterations == 4  # two steps per phase
    w, b, a = N_WEIGHTS * BITS, N_BIASES * BITS, N_ACTIVATIONS * BITS
    sw, mw = SRAM["access_width_bits"], MRAM["access_width_bits"]
    compute_ns = 2 * MACS_PER_STEP * COMPUTE_NS_PER_MAC  # per phase

    mram1 = row(result, "mram", "mram")
    sram1 = row(result, "sram", "mram")
    assert (mram1.bits_read, mram1.bits_written) == (2 * (w + b), (w + b) + 2 * (w + b))
    assert (sram1.bits_read, sram1.bits_written) == (2 * a, 2 * a)
    mram1_read_ns = 2 * (access_ns(w, mw, 4.0) + access_ns(b, mw, 4.0))
    mram1_write_ns = 3 * (access_ns(w, mw, 10.0) + access_ns(b, mw, 10.0))
    sram1_ns = 2 * (access_ns(a, sw, 1.5) + access_ns(a, sw, 2.0))
    phase1_ns = mram1_read_ns + mram1_write_ns + sram1_ns + compute_ns
    assert mram1.read_time_s == pytest.approx(mram1_read_ns * 1e-9, rel=1e-12)
    assert mram1.write_time_s == pytest.approx(mram1_write_ns * 1e-9, rel=1e-12)
    assert mram1.occupied_time_s == pytest.approx(phase1_ns * 1e-9, rel=1e-12)
    assert sram1.occupied_time_s == pytest.approx(phase1_ns * 1e-9, rel=1e-12)
    assert mram1.energy_j == pytest.approx(
        2 * (w + b) * 0.2e-12 + 3 * (w + b) * 1.0e-12 + leakage_w(MRAM) * phase1_ns * 1e-9, rel=1e-12)

    # Entering the SRAM phase: weights and biases are read from MRAM once and written to SRAM once.
    mram2 = row(result, "mram", "sram")
    sram2 = row(result, "sram", "sram")
    assert (mram2.bits_read, mram2.bits_written) == (w + b, 0)
    assert mram2.occupied_time_s == 0.0  # it holds nothing once the phase has started
    assert (sram2.bits_read, sram2.bits_written) == (2 * (w + b + a), (w + b) + 2 * (a + w + b))
    migration_ns = access_ns(w, mw, 4.0) + access_ns(b, mw, 4.0) + access_ns(w, sw, 2.0) + access_ns(b, sw, 2.0)
    steps_ns = 2 * (sum(access_ns(n, sw, 1.5) for n in (w, b, a)) + sum(access_ns(n, sw, 2.0) for n in (a, w, b)))
    phase2_ns = migration_ns + steps_ns + compute_ns
    assert sram2.occupied_time_s == pytest.approx(phase2_ns * 1e-9, rel=1e-12)
    assert result.sim_time_s == pytest.approx((phase1_ns + phase2_ns) * 1e-9, rel=1e-12)
    by_phase = result.energy_by("phase")
    assert by_phase["mram"] == pytest.approx(mram1.energy_j + sram1.energy_j, rel=1e-12)
    assert by_phase["sram"] == pytest.approx(mram2.energy_j + sram2.energy_j, rel=1e-12)
    assert result.epochs[0].phase == "mram" and result.epochs[1].phase == "sram"


def test_off_chip_memory_pays_transfer_energy_and_time(registry):
    off_chip = {**SRAM, "on_chip": False}
    cfg = config({"name": "all_sram"})
    cfg["memories"] = {"sram": off_chip, "mram": MRAM}
    result = run_experiment(cfg, registry=registry, data=tiny_data())
    on = run_experiment(config({"name": "all_sram"}), registry=registry, data=tiny_data())
    sram, sram_on = row(result, "sram", "sram"), row(on, "sram", "sram")
    moved = sram.bits_read + sram.bits_written
    assert sram.transfer_energy_j == pytest.approx(moved * 4.0e-12, rel=1e-12)  # MemoryParams default, pJ/bit
    extra_s = (sram.read_time_s + sram.write_time_s) - (sram_on.read_time_s + sram_on.write_time_s)
    assert extra_s == pytest.approx(moved * 0.0052e-9, rel=1e-9)


def test_parity_check_bits_are_stored_and_counted(registry):
    cfg = config({"name": "all_sram"})
    cfg["memories"] = {"sram": {**SRAM, "protection": "parity"}, "mram": MRAM}
    result = run_experiment(cfg, registry=registry, data=tiny_data())
    plain = run_experiment(config({"name": "all_sram"}), registry=registry, data=tiny_data())
    sram, sram_plain = row(result, "sram", "sram"), row(plain, "sram", "sram")
    assert sram.bits_read * 32 == sram_plain.bits_read * 33
    assert sram.bits_written * 32 == sram_plain.bits_written * 33


def test_capacity_is_checked_before_any_work(registry, monkeypatch):
    from memtech import CapacityError
    from memtech import experiment

    cfg = config({"name": "all_sram"})
    cfg["memories"] = {"sram": {**SRAM, "capacity_mb": 1e-5}, "mram": MRAM}  # 83 bit: less than the weights
    started = []
    monkeypatch.setattr(experiment, "TensorStore", lambda *a, **k: started.append(1))
    with pytest.raises(CapacityError, match=r"memories\.sram\.capacity_mb .*weights 320 bit"):
        run_experiment(cfg, registry=registry, data=tiny_data())
    assert started == []
    spec = build_spec(cfg, registry)  # the configuration itself is valid: only the placement does not fit
    assert spec.memories["sram"].capacity_bits == 83


def test_a_smaller_last_batch_moves_and_computes_less(registry):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3)).astype(np.float32)  # batches of 2, 2 and 1
    data = Data(x, np.array([0, 1, 1, 0, 1]), x[:2], np.array([0, 1]), 2)
    result = run_experiment(config({"name": "all_sram"}), registry=registry, data=data)
    assert result.iterations == 3
    sram = row(result, "sram", "sram")
    w, b = N_WEIGHTS * BITS, N_BIASES * BITS
    a_full, a_last = N_ACTIVATIONS * BITS, N_ACTIVATIONS // 2 * BITS
    assert sram.bits_read == 3 * (w + b) + 2 * a_full + a_last
    assert sram.bits_written == (w + b) + 3 * (w + b) + 2 * a_full + a_last
    assert result.compute_time_s == pytest.approx((2 + 2 + 1) * 3 * N_WEIGHTS * COMPUTE_NS_PER_MAC * 1e-9, rel=1e-12)


def test_simulated_time_never_reads_the_wall_clock(registry, monkeypatch):
    import time

    def no_clock(*args):
        raise AssertionError("the engine read the wall clock")

    for name in ("time", "perf_counter", "monotonic", "time_ns", "perf_counter_ns", "monotonic_ns"):
        monkeypatch.setattr(time, name, no_clock)
    result = run_experiment(config({"name": "mram_then_sram", "first_fraction": 0.5}, epochs=2),
                            registry=registry, data=tiny_data())
    assert result.sim_time_s > 0

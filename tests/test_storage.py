"""Physical error events through an Arena: switch-only writes, direction asymmetry, read sense vs disturb,
retention over simulated time, stuck-at maps, wear-out, check-bit accounting and seeded reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from memtech.memory import ErrorModel, MemoryParams, MemoryTechnology
from memtech.storage import Arena, Memory, SimClock, TensorStore

ALPHA = 1e-6


def binom_ok(count: int, n: int, p: float) -> bool:
    lo, hi = stats.binom.interval(1 - ALPHA, n, p)
    return lo <= count <= hi


class FakeTech(MemoryTechnology):
    name = "fake"

    def __init__(self, errors: ErrorModel, **params):
        super().__init__(MemoryParams(technology="fake", capacity_mb=1024.0, **params))
        self._errors = errors

    def error_model(self) -> ErrorModel:
        return self._errors


def make_arena(errors: ErrorModel, n_values: int, *, seed: int = 0, role: str = "weights", memory=None, **params):
    memory = memory or Memory("mem", FakeTech(errors, **params), seed)
    return Arena(role, n_values, memory, np, SimClock(), ["phase"])


def as_float(words: np.ndarray) -> np.ndarray:
    return np.asarray(words, dtype=np.uint32).view(np.float32)


def popcount(words: np.ndarray) -> int:
    return int(np.bitwise_count(np.asarray(words, dtype=np.uint64)).sum())


@pytest.mark.parametrize("p, writes", [(1e-3, 1), (1e-5, 20), (1e-7, 1500)])
def test_write_flip_counts_within_binomial_bounds(p, writes):
    arena = make_arena(ErrorModel.uniform_write(p), 2**16)
    values = np.random.default_rng(0).standard_normal(2**16).astype(np.float32)
    flipped = 0
    for _ in range(writes):
        arena.write(values)
        flipped += popcount(arena.words ^ values.view(np.uint32))  # distinct hits: every hit shows
    assert arena.counters.flips["write"] == flipped
    assert binom_ok(flipped, writes * arena.n_bits, p)


@pytest.mark.parametrize("p, reads", [(1e-3, 1), (1e-5, 20), (1e-7, 1500)])
def test_read_sense_corrupts_only_the_value_read(p, reads):
    arena = make_arena(ErrorModel(read_sense_ber=p), 2**16)
    values = np.random.default_rng(1).standard_normal(2**16).astype(np.float32)
    arena.write(values)
    wrong = 0
    for _ in range(reads):
        wrong += popcount(arena.read().view(np.uint32) ^ values.view(np.uint32))
    assert np.array_equal(arena.words, values.view(np.uint32))  # the stored cells never change
    assert arena.counters.flips["read_sense"] == wrong
    assert binom_ok(wrong, reads * arena.n_bits, p)


@pytest.mark.parametrize("p, reads", [(1e-3, 1), (1e-5, 20), (1e-7, 1500)])
def test_read_disturb_flips_the_stored_cell(p, reads):
    arena = make_arena(ErrorModel(read_disturb_ber=p), 2**16)
    arena.write(np.zeros(2**16, np.float32))
    for _ in range(reads):
        arena.read()
    # at these rates a cell is disturbed twice with negligible probability: the stored flips are the events
    stored = popcount(arena.words)
    assert stored == arena.counters.flips["read_disturb"]
    assert binom_ok(stored, reads * arena.n_bits, p)
    assert np.array_equal(arena.read().view(np.uint32), arena.words)  # the next read sees the disturbed value


def test_switch_only_write_never_flips_an_unchanged_value():
    arena = make_arena(ErrorModel(write_ber_0to1=0.2, write_ber_1to0=0.2), 4096)
    arena.write(np.zeros(4096, np.float32))
    assert arena.counters.flips["write"] == 0  # nothing switches from the all-zero start
    arena.write(np.random.default_rng(2).standard_normal(4096).astype(np.float32))
    assert arena.counters.flips["write"] > 0
    stored = arena.peek()
    before = arena.counters.flips["write"]
    for _ in range(50):
        arena.write(stored)  # the value as stored, failed switches included: no bit has to switch
    assert arena.counters.flips["write"] == before
    assert np.array_equal(arena.peek().view(np.uint32), stored.view(np.uint32))


def test_write_direction_asymmetry():
    p01, p10 = 1e-3, 1e-4
    arena = make_arena(ErrorModel(write_ber_0to1=p01, write_ber_1to0=p10), 2**16)
    ones = as_float(np.full(2**16, 0xFFFFFFFF, np.uint32))
    zeros = np.zeros(2**16, np.float32)
    failed_up = failed_down = switching_up = switching_down = 0
    for _ in range(10):
        switching_up += arena.n_bits - popcount(arena.words)
        arena.write(ones)
        failed_up += arena.n_bits - popcount(arena.words)  # cells that stayed 0
        switching_down += popcount(arena.words)
        arena.write(zeros)
        failed_down += popcount(arena.words)  # cells that stayed 1
    assert binom_ok(failed_up, switching_up, p01)
    assert binom_ok(failed_down, switching_down, p10)
    assert failed_up > 3 * failed_down


def test_hold_errors_hit_only_unchanged_bits():
    arena = make_arena(ErrorModel(write_ber_hold=1e-3), 2**16)
    arena.write(np.zeros(2**16, np.float32))
    held = popcount(arena.words)
    assert binom_ok(held, arena.n_bits, 1e-3)
    before = np.array(arena.words)
    arena.write(as_float(np.full(2**16, 0xFFFFFFFF, np.uint32)))
    assert not np.any(~arena.words & ~before)  # every switching 0->1 cell succeeded
    assert popcount(before & ~arena.words) <= 20  # only the ~2 held ones can have failed


@pytest.mark.parametrize("rate_per_s", [1e-3])
def test_retention_grows_with_simulated_time(rate_per_s):
    arena = make_arena(ErrorModel(retention_rate_0to1_per_s=rate_per_s, retention_rate_1to0_per_s=rate_per_s), 2**16)
    zeros = np.zeros(2**16, np.float32)
    previous = -1
    for seconds in (0.01, 0.1, 1.0):
        arena.write(zeros)
        arena.clock.advance(seconds)
        flipped = popcount(arena.read().view(np.uint32))
        # symmetric two-state chain: a bit differs from what was written with probability (1 - e^{-2rt}) / 2
        assert binom_ok(flipped, arena.n_bits, -math.expm1(-2 * rate_per_s * seconds) / 2)
        assert flipped > previous
        previous = flipped


def test_retention_one_direction_only_discharges_ones():
    rate = 1e-2
    arena = make_arena(ErrorModel(retention_rate_1to0_per_s=rate), 2**15)
    pattern = as_float(np.full(2**15, 0xFFFF0000, np.uint32))
    arena.write(pattern)
    arena.clock.advance(1.0)
    words = arena.read().view(np.uint32)
    assert not np.any(words & np.uint32(0xFFFF))  # stored zeros never charge up
    lost = arena.n_bits // 2 - popcount(words)
    assert binom_ok(lost, arena.n_bits // 2, -math.expm1(-rate))


def test_retention_restarts_at_each_write():
    rate = 1e-3
    arena = make_arena(ErrorModel(retention_rate_0to1_per_s=rate, retention_rate_1to0_per_s=rate), 2**16)
    zeros = np.zeros(2**16, np.float32)
    for _ in range(100):  # rewritten every 10 ms for 1 s: only the last 10 ms of exposure show
        arena.write(zeros)
        arena.clock.advance(0.01)
    flipped = popcount(arena.read().view(np.uint32))
    assert binom_ok(flipped, arena.n_bits, -math.expm1(-2 * rate * 0.01) / 2)


def test_stuck_map_persists_across_writes_and_is_seeded():
    errors = ErrorModel(stuck_at_0_fraction=1e-3, stuck_at_1_fraction=2e-3)
    arena = make_arena(errors, 2**16, seed=3)
    positions, values = arena.stuck_cells()
    assert binom_ok(len(positions), arena.n_bits, 3e-3)
    assert binom_ok(int(values.sum()), len(positions), 2 / 3)
    rng = np.random.default_rng(4)
    for _ in range(5):
        arena.write(rng.standard_normal(2**16).astype(np.float32))
        words = np.asarray(arena.words, dtype=np.uint64)
        bits = (words[positions // 32] >> (positions % 32).astype(np.uint64)) & np.uint64(1)
        assert np.array_equal(bits.astype(np.int64), values)
        again, _ = arena.stuck_cells()
        assert np.array_equal(again, positions)
    same, _ = make_arena(errors, 2**16, seed=3).stuck_cells()
    other, _ = make_arena(errors, 2**16, seed=4).stuck_cells()
    assert np.array_equal(same, positions) and not np.array_equal(other, positions)


def test_stuck_cells_ignore_retention_and_disturb():
    errors = ErrorModel(stuck_at_1_fraction=0.01, read_disturb_ber=0.05)
    arena = make_arena(errors, 4096, seed=1)
    positions, values = arena.stuck_cells()
    arena.write(np.zeros(4096, np.float32))
    for _ in range(20):
        arena.read()
    words = np.asarray(arena.words, dtype=np.uint64)
    bits = (words[positions // 32] >> (positions % 32).astype(np.uint64)) & np.uint64(1)
    assert np.all(bits == 1)


def test_wear_out_adds_stuck_cells_as_writes_accumulate():
    median, sigma = 1000.0, 0.5
    arena = make_arena(ErrorModel(endurance_writes=median, endurance_sigma_ln=sigma), 4096, seed=2)
    rng = np.random.default_rng(5)
    seen = np.empty(0, np.int64)
    for writes in range(1, 301):
        arena.write(rng.standard_normal(4096).astype(np.float32))
        if writes % 100 == 0:
            positions, values = arena.stuck_cells()
            assert np.all(np.isin(seen, positions))  # worn-out cells stay stuck
            assert binom_ok(len(positions), arena.n_bits, stats.norm.cdf(math.log(writes / median) / sigma))
            words = np.asarray(arena.words, dtype=np.uint64)
            bits = (words[positions // 32] >> (positions % 32).astype(np.uint64)) & np.uint64(1)
            assert np.array_equal(bits.astype(np.int64), values)
            seen = positions
    assert arena.counters.cells_worn_out == len(seen)


def test_wear_out_counts_writes_per_word():
    arena = make_arena(ErrorModel(endurance_writes=50.0, endurance_sigma_ln=0.3), 512, seed=0)
    half = np.zeros(256, np.float32)
    for _ in range(200):
        arena.write(half, 0)  # only the first half is ever written
    positions, _ = arena.stuck_cells()
    assert len(positions) > 0.9 * 256 * 32 and positions.max() < 256 * 32


def test_check_bits_are_counted_and_can_flip():
    for protection, width in (("none", 32), ("parity", 33), ("secded", 39), ("sanity", 32)):
        arena = make_arena(ErrorModel.uniform_write(0.01), 1000, protection=protection)
        arena.write(np.ones(1000, np.float32))
        arena.read()
        counters = arena.counters
        assert counters.bits_written == counters.bits_read == 1000 * width
        if width > 32:
            assert counters.flips_by_field["check"] > 0


def test_per_bit_flip_histogram_is_uniform_and_names_fields():
    arena = make_arena(ErrorModel.uniform_write(1e-3), 2**16)
    values = np.random.default_rng(6).standard_normal(2**16).astype(np.float32)
    for _ in range(20):
        arena.write(values)
    counters = arena.counters
    histogram = np.array([counters.flips_by_bit[b] for b in range(32)])
    assert histogram.sum() == counters.flips["write"]
    assert stats.chisquare(histogram).pvalue > ALPHA
    fields = counters.flips_by_field
    assert fields["sign"] == histogram[31] and fields["exponent"] == histogram[23:31].sum()
    assert fields["mantissa"] == histogram[:23].sum()


def test_same_seed_same_faults_and_roles_independent():
    errors = ErrorModel(write_ber_0to1=1e-3, write_ber_1to0=2e-3, read_sense_ber=1e-4, read_disturb_ber=1e-4,
                        retention_rate_1to0_per_s=1e-2, stuck_at_1_fraction=1e-4)

    def run(seed, role):
        arena = make_arena(errors, 8192, seed=seed, role=role, protection="secded")
        rng = np.random.default_rng(0)
        reads = []
        for _ in range(5):
            arena.write(rng.standard_normal(8192).astype(np.float32))
            arena.clock.advance(0.1)
            reads.append(arena.read().copy())
        return np.concatenate(reads), arena.damage_masks.copy(), dict(arena.counters.flips)

    a, b = run(1, "weights"), run(1, "weights")
    assert np.array_equal(a[0].view(np.uint32), b[0].view(np.uint32)) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    for other in (run(2, "weights"), run(1, "biases")):
        assert not np.array_equal(a[0].view(np.uint32), other[0].view(np.uint32))


def test_role_returning_to_a_memory_gets_fresh_faults():
    memory = Memory("mram", FakeTech(ErrorModel.uniform_write(1e-3)), 0)
    first = make_arena(ErrorModel(), 4096, memory=memory)
    second = make_arena(ErrorModel(), 4096, memory=memory)
    values = np.ones(4096, np.float32)
    first.write(values)
    second.write(values)
    assert not np.array_equal(first.words, second.words)


def test_int8_scale_follows_each_write_and_spans():
    arena = make_arena(ErrorModel(), 200, storage_format="int8")
    arena.write(np.full(100, 1.0, np.float32), 0)
    arena.write(np.full(100, 100.0, np.float32), 100)
    values = arena.read()
    np.testing.assert_allclose(values[:100], 1.0, rtol=1e-6)
    np.testing.assert_allclose(values[100:], 100.0, rtol=1e-6)
    np.testing.assert_allclose(arena.read(100, 200), 100.0, rtol=1e-6)


def test_tensor_store_moves_roles_between_memories():
    memories = {"mram": Memory("mram", FakeTech(ErrorModel()), 0),
                "sram": Memory("sram", FakeTech(ErrorModel(), protection="secded"), 0)}
    store = TensorStore({"weights": 10}, memories, np, SimClock())
    values = np.arange(10, dtype=np.float32)
    store.enter_phase("a", {"weights": "mram"}, {"weights": values})
    store.enter_phase("b", {"weights": "sram"})
    np.testing.assert_array_equal(store.read("weights"), values)
    assert memories["sram"].counters["b"].bits_written == 10 * 39
    assert memories["mram"].counters["b"].bits_read == 10 * 32


@pytest.mark.parametrize("errors", [
    ErrorModel(write_ber_0to1=1e-4, write_ber_1to0=1e-4),
    ErrorModel(write_ber_0to1=3e-4, write_ber_1to0=1e-4, write_ber_hold=2e-5, read_disturb_ber=1e-5),
])
def test_few_hit_path_matches_the_array_path(errors):
    def run(scalar: bool):
        arena = make_arena(errors, 5000, seed=9)
        if not scalar:
            arena.take_array_paths(device_switches=False)
        rng = np.random.default_rng(3)
        for _ in range(200):
            arena.write(rng.standard_normal(5000).astype(np.float32))
            arena.read()
        return np.array(arena.words), dict(arena.counters.flips), arena.counters.flips_by_bit

    fast, slow = run(True), run(False)
    assert np.array_equal(fast[0], slow[0]) and fast[1:] == slow[1:] and sum(fast[1].values()) > 50


@pytest.mark.parametrize("errors, params", [
    (ErrorModel(write_ber_0to1=1e-4, write_ber_1to0=1e-4), {}),
    (ErrorModel(write_ber_0to1=1e-4, write_ber_1to0=1e-4, stuck_at_0_fraction=1e-4, stuck_at_1_fraction=1e-4), {}),
    (ErrorModel(write_ber_0to1=2e-4, write_ber_1to0=1e-4, write_ber_hold=1e-5), {"storage_format": "bfloat16"}),
])
def test_few_hit_path_matches_the_array_path_for_writes_at_an_offset(errors, params):
    def run(scalar: bool):
        arena = make_arena(errors, 6000, seed=4, **params)
        if not scalar:
            arena.take_array_paths(device_switches=False)
        rng = np.random.default_rng(5)
        for step in range(300):
            start = (0, 1000, 4321)[step % 3]
            arena.write(rng.standard_normal(1500).astype(np.float32), start)
        return np.array(arena.words), dict(arena.counters.flips), arena.counters.flips_by_bit

    fast, slow = run(True), run(False)
    assert np.array_equal(fast[0], slow[0]) and fast[1:] == slow[1:] and fast[1]["write"] > 20

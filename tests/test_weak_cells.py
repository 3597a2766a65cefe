"""Persistent weak cells (memtech.storage.weak_cells): drawn once per array from the seed, with their own write and
retention error rates, checked against binomial bounds at α = 1e-6."""

from __future__ import annotations

import math

import numpy as np
import pytest

from memtech.memory import ErrorModel, WeakCellModel
from memtech.storage import Arena
from test_storage import binom_ok, make_arena, popcount

N = 2**15


def weak(fraction=0.05, write=0.0, retention=0.0, hold=None):
    return WeakCellModel(fraction=fraction, write_ber_0to1=write, write_ber_1to0=write,
                         write_ber_hold=write if hold is None else hold, retention_rate_per_s=retention)


def bits_at(words: np.ndarray, positions: np.ndarray) -> np.ndarray:
    index, bit = np.divmod(positions, 32)
    return (np.asarray(words, dtype=np.uint64)[index] >> bit.astype(np.uint64)) & np.uint64(1)


def test_the_map_is_drawn_once_from_the_seed():
    errors = ErrorModel(weak_cells=weak(0.01))
    a, b, other = make_arena(errors, N, seed=3), make_arena(errors, N, seed=3), make_arena(errors, N, seed=4)
    np.testing.assert_array_equal(a.cells.weak.positions, b.cells.weak.positions)
    assert not np.array_equal(a.cells.weak.positions, other.cells.weak.positions)
    assert binom_ok(len(a.cells.weak), a.n_bits, 0.01)
    # the same cells stay weak when the role comes back to the memory
    again = Arena("weights", N, a.memory, np, a.clock, ["phase"])
    assert again.cells.weak is a.cells.weak


@pytest.mark.parametrize("base, weak_rate", [(1e-3, 0.2), (0.05, 1e-3)])
def test_weak_cells_fail_writes_at_their_own_rate(base, weak_rate):
    """Every bit may flip (hold errors too): ordinary cells at ``base``, weak ones at ``weak_rate`` — more
    often (extra failures) or less (failures set right)."""
    arena = make_arena(ErrorModel.uniform_write(base, weak_cells=weak(0.05, weak_rate)), N)
    weak_bits = arena.cells.weak.positions
    ordinary = np.setdiff1d(np.arange(arena.n_bits), weak_bits)
    rng = np.random.default_rng(1)
    at_weak = at_ordinary = total = 0
    writes = 20
    for _ in range(writes):
        values = rng.standard_normal(N).astype(np.float32)
        arena.write(values)
        wrong = np.asarray(arena.words, dtype=np.uint32) ^ values.view(np.uint32)
        at_weak += int(bits_at(wrong, weak_bits).sum())
        at_ordinary += int(bits_at(wrong, ordinary).sum())
        total += popcount(wrong)
    assert binom_ok(at_weak, writes * len(weak_bits), weak_rate)
    assert binom_ok(at_ordinary, writes * len(ordinary), base)
    assert arena.counters.flips["write"] == total  # a failure set right is no longer counted


def test_switch_only_weak_cells_never_fail_an_unchanged_bit():
    errors = ErrorModel(write_ber_0to1=1e-3, write_ber_1to0=1e-3, weak_cells=weak(0.2, 0.5, hold=0.0))
    arena = make_arena(errors, N)
    values = np.random.default_rng(2).standard_normal(N).astype(np.float32)
    arena.write(values)
    stored = arena.words.copy()
    for _ in range(10):
        arena.write(as_stored := stored.view(np.float32))
        np.testing.assert_array_equal(arena.words, as_stored.view(np.uint32))


def test_weak_cells_lose_their_data_at_their_own_retention_rate():
    rate, seconds = 1e-2, 5.0
    arena = make_arena(ErrorModel(weak_cells=weak(0.1, retention=rate)), N)
    zeros = np.zeros(N, np.float32)
    arena.write(zeros)
    arena.clock.advance(seconds)
    stored = arena.read().view(np.uint32)
    flipped_weak = int(bits_at(stored, arena.cells.weak.positions).sum())
    assert popcount(stored) == flipped_weak  # ordinary cells keep their data (their rate is 0)
    assert binom_ok(flipped_weak, len(arena.cells.weak), -math.expm1(-2 * rate * seconds) / 2)
    assert arena.counters.flips["retention"] >= flipped_weak


def test_stt_mram_weak_cells_from_the_physics(registry):
    from test_technologies import build

    plain = build(registry, "stt_mram")
    assert plain.error_model().weak_cells is None
    mram = build(registry, "stt_mram", weak_cell_fraction=0.01, weak_cell_thermal_stability=25.0)
    model, ordinary = mram.error_model().weak_cells, mram.error_model()
    assert model.fraction == 0.01
    # Δ = 25 retains for τ0·e^25 = 72 s on average (§5.3); its smaller I_c0 makes the same write current stronger
    assert 1.0 / model.retention_rate_per_s == pytest.approx(1e-9 * math.exp(25.0), rel=1e-12)
    assert model.write_ber_0to1 < ordinary.write_ber_0to1
    assert model.write_ber_hold == 0.0  # switch-only, as the array

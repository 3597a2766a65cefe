"""The same seed gives the same faults on NumPy and CuPy (fault positions are drawn on the host)."""

from __future__ import annotations

import numpy as np
import pytest

from memtech.memory import ErrorModel
from memtech.storage import Arena, Memory, SimClock

from test_storage import FakeTech

ERRORS = ErrorModel(write_ber_0to1=2e-3, write_ber_1to0=1e-3, write_ber_hold=1e-4, read_sense_ber=1e-3,
                    read_disturb_ber=1e-4, retention_rate_0to1_per_s=1e-3, retention_rate_1to0_per_s=5e-3,
                    stuck_at_0_fraction=1e-3, stuck_at_1_fraction=1e-3, endurance_writes=1e3,
                    endurance_sigma_ln=1.0)

# STT-MRAM's usual case: both switches fail alike and a held bit never does; on a GPU the failures are then
# decided on the device (without check bits) and counted later
SWITCH_ONLY = ErrorModel(write_ber_0to1=1e-3, write_ber_1to0=1e-3, read_disturb_ber=1e-4,
                         retention_rate_0to1_per_s=2e-3, retention_rate_1to0_per_s=2e-3)


def scenario(xp, storage_format: str, protection: str, errors: ErrorModel = ERRORS):
    memory = Memory("mram", FakeTech(errors, storage_format=storage_format, protection=protection), 7)
    arena = Arena("weights", 20_000, memory, xp, SimClock(), ["phase"])
    rng = np.random.default_rng(0)
    seen = []
    for step in range(30):
        values = rng.standard_normal(20_000).astype(np.float32)
        arena.write(xp.asarray(values[:10_000]), 0)
        arena.write(xp.asarray(values[10_000:]), 10_000)
        arena.clock.advance(0.5)
        got = arena.read(5_000, 15_000)
        seen.append((np.asarray(got.get() if xp is not np else got).view(np.uint32).copy(),
                     np.asarray(arena.words.get() if xp is not np else arena.words).copy()))
    counted_later = len(memory._deferred_write_failures)
    counters = arena.counters
    return (seen, dict(counters.flips), dict(counters.flips_by_bit), counters.values_zeroed,
            counters.cells_worn_out, counted_later)


def assert_same_values_read(on_host: np.ndarray, on_device: np.ndarray) -> None:
    """Bit for bit, except a NaN's payload: a flipped float16 exponent can make a NaN, and widening it to float32
    keeps the payload on NumPy while CUDA gives the canonical NaN (0x7fffffff). The stored words, compared
    bit for bit above, hold the faults; a NaN is a NaN to the arithmetic that reads it."""
    both_nan = np.isnan(on_host.view(np.float32)) & np.isnan(on_device.view(np.float32))
    np.testing.assert_array_equal(np.where(both_nan, 0, on_host), np.where(both_nan, 0, on_device))


@pytest.mark.gpu
@pytest.mark.parametrize("storage_format, protection", [("float32", "secded"), ("float16", "parity"),
                                                        ("bfloat16", "sanity"), ("int8", "none")])
def test_numpy_and_cupy_give_identical_faults(storage_format, protection):
    cupy = pytest.importorskip("cupy")
    on_host = scenario(np, storage_format, protection)
    on_device = scenario(cupy, storage_format, protection)
    assert_identical(on_host, on_device)


@pytest.mark.gpu
@pytest.mark.parametrize("storage_format, protection", [("float32", "none"), ("float16", "sanity"),
                                                        ("int8", "none"), ("bfloat16", "parity")])
def test_switch_only_writes_decided_on_the_device_give_identical_faults(storage_format, protection):
    cupy = pytest.importorskip("cupy")
    on_host = scenario(np, storage_format, protection, SWITCH_ONLY)
    on_device = scenario(cupy, storage_format, protection, SWITCH_ONLY)
    assert on_host[1]["write"] > 100
    # without check bits the device decided the failures (counted at the end); parity needs the host path
    assert (on_device[5] > 0) == (protection != "parity") and on_host[5] == 0
    assert_identical(on_host, on_device)


def assert_identical(on_host, on_device) -> None:
    assert sum(on_host[1].values()) > 100  # the scenario does exercise the fault engine
    for (read_h, words_h), (read_d, words_d) in zip(on_host[0], on_device[0]):
        np.testing.assert_array_equal(words_h, words_d)
        assert_same_values_read(read_h, read_d)
    assert on_host[1:5] == on_device[1:5]


def test_scenario_is_reproducible_on_numpy():
    a, b = scenario(np, "float32", "secded"), scenario(np, "float32", "secded")
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a[0], b[0]))
    c = scenario(np, "float32", "none", SWITCH_ONLY)
    assert c[1]["write"] > 100 and c[5] == 0
    assert a[1:] == b[1:] and a[4] > 0


def test_value_comparison_ignores_only_nan_payloads():
    quiet, payload = np.array([0x7FFFFFFF], np.uint32), np.array([0x7F8CE000], np.uint32)
    assert_same_values_read(quiet, payload)  # two NaNs
    with pytest.raises(AssertionError):
        assert_same_values_read(np.array([0x3F800000], np.uint32), np.array([0x3F800001], np.uint32))
    with pytest.raises(AssertionError):
        assert_same_values_read(quiet, np.array([0x7F800000], np.uint32))  # NaN vs infinity

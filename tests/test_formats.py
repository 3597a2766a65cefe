"""Stored formats: round trips, bit fields, and how the format bounds the damage of one flipped bit."""

from __future__ import annotations

import numpy as np
import pytest

from memtech.formats import FORMATS
from memtech.memory import ErrorModel

from test_storage import make_arena


def test_round_trips():
    values = np.array([0.0, 1.0, -2.5, 0.125, 1024.0, -0.75], np.float32)
    for name in ("float32", "float16", "bfloat16"):
        fmt = FORMATS[name]
        words, scale = fmt.encode(np, values)
        assert words.dtype == fmt.word_dtype
        np.testing.assert_array_equal(fmt.decode(np, words, scale), values)
    fmt = FORMATS["int8"]
    words, scale = fmt.encode(np, values)
    assert scale == pytest.approx(1024.0 / 127)
    np.testing.assert_allclose(fmt.decode(np, words, scale), values, atol=scale / 2)


def test_bfloat16_rounds_to_nearest_even_and_keeps_nan():
    fmt = FORMATS["bfloat16"]
    x = np.array([1.0 + 2**-8, 1.0 + 3 * 2**-8, np.nan, -np.nan], np.float32)  # halfway cases
    out = fmt.decode(np, *fmt.encode(np, x))
    assert out[0] == 1.0 and out[1] == 1.0 + 4 * 2**-8
    assert np.isnan(out[2]) and np.isnan(out[3])


def test_int8_saturates_infinities_and_zeroes_nan():
    fmt = FORMATS["int8"]
    out = fmt.decode(np, *fmt.encode(np, np.array([1.0, np.inf, -np.inf, np.nan], np.float32)))
    np.testing.assert_allclose(out, [1.0, 1.0, -1.0, 0.0])


@pytest.mark.parametrize("name, fields", [
    ("float32", {"sign": [31], "exponent": range(23, 31), "mantissa": range(0, 23)}),
    ("float16", {"sign": [15], "exponent": range(10, 15), "mantissa": range(0, 10)}),
    ("bfloat16", {"sign": [15], "exponent": range(7, 15), "mantissa": range(0, 7)}),
    ("int8", {"sign": [7], "value": range(0, 7)}),
])
def test_bit_fields(name, fields):
    fmt = FORMATS[name]
    for field, bits in fields.items():
        assert all(fmt.field_of_bit(b) == field for b in bits)
    assert sum(len(list(b)) for b in fields.values()) == fmt.bits


def worst_single_flip_error(name: str, value: float) -> float:
    fmt = FORMATS[name]
    words, scale = fmt.encode(np, np.array([value], np.float32))
    worst = 0.0
    for bit in range(fmt.bits):
        flipped = words ^ fmt.word_dtype(1 << bit)
        with np.errstate(invalid="ignore"):
            error = abs(float(fmt.decode(np, flipped, scale)[0]) - value)
        worst = max(worst, error if np.isfinite(error) else np.inf)
    return worst


def test_format_bounds_the_damage_of_one_flip():
    # a float's top exponent bit turns 0.5 into ~1e38 (float32/bfloat16) or 32768 (float16); int8 moves a
    # code by at most 128 steps of its scale
    assert worst_single_flip_error("float32", 0.5) > 1e37
    assert worst_single_flip_error("bfloat16", 0.5) > 1e37
    assert 1e4 < worst_single_flip_error("float16", 0.5) < 1e5
    assert worst_single_flip_error("int8", 0.5) <= 128 * 0.5 / 127 + 1e-6


@pytest.mark.parametrize("name", ["float16", "bfloat16", "int8"])
def test_arena_stores_in_format_and_counts_flips_per_field(name):
    fmt = FORMATS[name]
    arena = make_arena(ErrorModel.uniform_write(1e-2), 4096, storage_format=name)
    values = np.random.default_rng(0).uniform(-1, 1, 4096).astype(np.float32)
    arena.write(values)
    counters = arena.counters
    assert arena.words.dtype == fmt.word_dtype and counters.bits_written == 4096 * fmt.bits
    assert sum(counters.flips_by_field.values()) == counters.flips["write"] == sum(counters.flips_by_bit.values())
    assert set(counters.flips_by_bit) <= set(range(fmt.bits))
    clean = FORMATS[name].decode(np, *FORMATS[name].encode(np, values))
    changed = arena.read() != clean
    assert 0 < changed.sum() <= counters.flips["write"]

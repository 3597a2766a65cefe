"""Protection codes: exhaustive SECDED single/double-error behaviour, parity detect-and-zero, sanity guard."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from memtech.memory import ErrorModel
from memtech.errors import ConfigError
from memtech.protection import CORRECTED, SILENT, ZEROED, SecdedCode, make_code

from test_storage import make_arena


def single_and_double_patterns(n: int) -> tuple[np.ndarray, np.ndarray]:
    singles = np.array([1 << i for i in range(n)], dtype=np.uint64)
    doubles = np.array([(1 << i) | (1 << j) for i, j in itertools.combinations(range(n), 2)], dtype=np.uint64)
    return singles, doubles


@pytest.mark.parametrize("data_bits, codeword_bits", [(8, 13), (16, 22), (32, 39), (64, 72)])
def test_secded_sizes(data_bits, codeword_bits):
    assert SecdedCode(data_bits).codeword_bits == codeword_bits
    if codeword_bits > 64:  # error patterns are uint64 masks: the engine refuses wider codewords clearly
        with pytest.raises(ConfigError, match="at most 64 bits"):
            make_code("secded", data_bits)
    else:
        assert make_code("secded", data_bits).codeword_bits == codeword_bits


def full_decode(code, received: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode whole received codewords as hardware does.

    A codeword has syndrome 0 and even weight, so the received word has the syndrome and parity of its
    error pattern: the pattern decoder applied to the received word must act exactly as on the pattern.
    """
    outcome, correction = code.decode(received)
    return outcome, (received & np.uint64((1 << code.data_bits) - 1)) ^ correction


def test_secded_int8_exhaustive_over_every_value_and_every_single_and_double_error():
    code = make_code("secded", 8)
    data = np.arange(256, dtype=np.uint64)
    codewords = data | (code.check_values(data) << np.uint64(8))
    singles, doubles = single_and_double_patterns(code.codeword_bits)
    assert np.all(code._syndrome(codewords) == 0)
    assert np.all(np.bitwise_count(codewords) % 2 == 0)
    for pattern in singles:
        outcome, fixed = full_decode(code, codewords ^ pattern)
        assert np.all(outcome == CORRECTED) and np.array_equal(fixed, data)
    for pattern in doubles:
        outcome, _ = full_decode(code, codewords ^ pattern)
        assert np.all(outcome == ZEROED)
    outcome, fixed = full_decode(code, codewords)
    assert np.all(outcome == SILENT) and np.array_equal(fixed, data)


@pytest.mark.parametrize("data_bits", [8, 16, 32])  # stored words are at most 32 data bits
def test_secded_corrects_every_single_and_detects_every_double_pattern(data_bits):
    code = make_code("secded", data_bits)
    singles, doubles = single_and_double_patterns(code.codeword_bits)
    outcome, correction = code.decode(singles)
    assert np.all(outcome == CORRECTED)
    data_mask = np.uint64((1 << data_bits) - 1)
    assert np.array_equal(correction, singles & data_mask)  # the flipped data bit, or nothing for a check bit
    outcome, correction = code.decode(doubles)
    assert np.all(outcome == ZEROED) and not correction.any()
    # random data: every codeword checks out, so decoding the error pattern alone is decoding the word
    rng = np.random.default_rng(0)
    data = rng.integers(0, 2**63, size=1000, dtype=np.uint64) & data_mask
    for pattern in np.concatenate([singles, doubles[:: max(1, len(doubles) // 200)]]):
        outcome, fixed = full_decode(code, (data | (code.check_values(data) << np.uint64(data_bits))) ^ pattern)
        if np.bitwise_count(pattern) == 1:
            assert np.array_equal(fixed, data)


def test_secded_triple_errors_are_never_silent():
    code = make_code("secded", 32)
    triples = np.array([(1 << i) | (1 << j) | (1 << k) for i, j, k in itertools.combinations(range(39), 3)],
                       dtype=np.uint64)
    outcome, _ = code.decode(triples)
    assert np.all(outcome != SILENT)  # odd weight: miscorrected or detected, as in hardware


def test_parity_detects_odd_and_misses_even():
    code = make_code("parity", 32)
    patterns = np.array([1, 3, 7, 1 << 32, (1 << 32) | 1], dtype=np.uint64)
    outcome, correction = code.decode(patterns)
    assert outcome.tolist() == [ZEROED, SILENT, ZEROED, ZEROED, SILENT]
    assert not correction.any()


def written_with_damage(protection: str, ber: float, seed: int, values_seed: int):
    """(arena, values written, each word's damage pattern) after one write of 20 000 values at ``ber``."""
    arena = make_arena(ErrorModel.uniform_write(ber), 20_000, protection=protection, seed=seed)
    values = np.random.default_rng(values_seed).uniform(1, 2, 20_000).astype(np.float32)
    arena.write(values)
    damaged = np.zeros(20_000, np.uint64)
    damaged[arena.damage_words] = arena.damage_masks
    return arena, values, damaged


def test_parity_zeroes_exactly_the_values_with_an_odd_number_of_flips():
    arena, _, damaged = written_with_damage("parity", 0.02, seed=4, values_seed=0)
    odd = np.bitwise_count(damaged) % 2 == 1
    assert odd.sum() > 1000 and (~odd & (damaged != 0)).sum() > 50  # both kinds occur
    got = arena.read()
    assert np.all(got[odd] == 0)
    stored = np.asarray(arena.words).view(np.float32)
    np.testing.assert_array_equal(got[~odd], stored[~odd])  # even flips pass unseen, as the code allows
    assert arena.counters.values_zeroed == odd.sum()


def test_secded_arena_restores_single_errors_and_zeroes_double_errors():
    arena, values, damaged = written_with_damage("secded", 0.01, seed=5, values_seed=1)
    weight = np.bitwise_count(damaged)
    got = arena.read()
    assert (weight == 1).sum() > 1000 and (weight == 2).sum() > 100
    np.testing.assert_array_equal(got[weight <= 1], values[weight <= 1])
    assert np.all(got[weight == 2] == 0)
    counters = arena.counters
    assert counters.errors_corrected >= (weight == 1).sum() and counters.values_zeroed >= (weight == 2).sum()
    # every damaged word is acted on: heavier odd patterns are miscorrected or detected, never silent
    acted = counters.errors_corrected + counters.errors_detected
    assert ((weight > 0) & (weight <= 3)).sum() <= acted <= (weight > 0).sum()


def test_secded_corrects_read_sense_errors_without_touching_storage():
    arena = make_arena(ErrorModel(read_sense_ber=1e-3), 20_000, protection="secded", seed=6)
    values = np.random.default_rng(2).uniform(1, 2, 20_000).astype(np.float32)
    arena.write(values)
    got = arena.read()
    assert arena.counters.flips["read_sense"] > 100
    wrong = got != values
    assert np.all(got[wrong] == 0)  # a value read wrong is only ever a detected (zeroed) double error
    assert arena.counters.errors_corrected > 100


def test_sanity_zeroes_non_finite_and_huge_values():
    arena = make_arena(ErrorModel(), 5, protection="sanity", sanity_bound=10.0)
    arena.write(np.array([1.0, np.nan, np.inf, -11.0, -9.0], np.float32))
    np.testing.assert_array_equal(arena.read(), [1.0, 0.0, 0.0, 0.0, -9.0])
    assert arena.counters.values_zeroed == 3
    assert arena.code.check_bits == 0


def test_unknown_protection_names_the_key_and_the_choices():
    from memtech.errors import ConfigError

    with pytest.raises(ConfigError, match="protection must be one of none, parity, secded, sanity, got 'ecc'"):
        make_code("ecc", 32)

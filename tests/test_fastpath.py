"""memtech._fastpath.switch_only_write against a reference written with NumPy arrays, for every word width."""

from __future__ import annotations

import numpy as np
import pytest

from memtech.storage import writes

fastpath = writes._fastpath
pytestmark = pytest.mark.skipif(fastpath is None, reason="memtech._fastpath is not built in this install")


def reference(hits, first, words, new_words, start, shift, histogram, every=False):
    """Switch-only write: candidates whose bit changes keep their old bit; with ``every``, every candidate
    bit is stored flipped."""
    words = words.copy()
    end = first + (len(new_words) << shift)
    mine = hits[(hits >= first) & (hits < end)] - first
    word, bit = mine >> shift, mine & ((1 << shift) - 1)
    old = words[start + word]
    switching = ((old ^ new_words[word]) >> bit.astype(words.dtype)) & 1 == 1
    if every:
        switching = np.ones(len(mine), dtype=bool)
    words[start:start + len(new_words)] = new_words
    np.bitwise_xor.at(words, start + word[switching], (np.ones(1, words.dtype) << bit[switching].astype(words.dtype)))
    for b in bit[switching]:
        histogram[int(b)] += 1
    return words, int(switching.sum())


@pytest.mark.parametrize("every", [False, True])
@pytest.mark.parametrize("dtype, shift", [(np.uint8, 3), (np.uint16, 4), (np.uint32, 5), (np.uint64, 6)])
def test_matches_the_reference(dtype, shift, every):
    rng = np.random.default_rng(shift)
    info = np.iinfo(dtype)
    for trial in range(50):
        words = rng.integers(0, info.max, size=300, dtype=dtype, endpoint=True)
        new_words = rng.integers(0, info.max, size=int(rng.integers(1, 200)), dtype=dtype, endpoint=True)
        start = int(rng.integers(0, len(words) - len(new_words) + 1))
        first = int(rng.integers(0, 1000))
        n_bits = len(new_words) << shift
        # sorted distinct candidates, some before this write's bits (already consumed) and some after it
        hits = np.unique(rng.integers(first, first + n_bits + 500, size=int(rng.integers(1, 3 * n_bits // 4))))
        index = 0
        expected_histogram, histogram = [0] * 64, [0] * 64
        expected_words, expected_failed = reference(hits, first, words, new_words, start, shift, expected_histogram,
                                                    every)
        stop, next_hit, failed = fastpath.switch_only_write(hits, index, first, words, new_words, start, shift,
                                                            histogram, every)
        np.testing.assert_array_equal(words, expected_words)
        assert failed == expected_failed and histogram == expected_histogram
        assert stop == int(np.searchsorted(hits, first + n_bits))
        assert next_hit == (int(hits[stop]) if stop < len(hits) else -1)


def test_bad_arguments_are_refused_before_any_change():
    words = np.arange(8, dtype=np.uint32)
    before = words.copy()
    hits = np.array([3, 40], dtype=np.int64)
    with pytest.raises(ValueError, match="shift"):
        fastpath.switch_only_write(hits, 0, 0, words, words[:2].copy(), 0, 7, [0] * 64)
    with pytest.raises(IndexError, match="write of 4 words at 6 into 8 words"):
        fastpath.switch_only_write(hits, 0, 0, words, np.zeros(4, np.uint32), 6, 5, [0] * 64)
    with pytest.raises(TypeError, match="histogram"):
        fastpath.switch_only_write(hits, 0, 0, words, np.zeros(2, np.uint32), 0, 5, [0] * 8)
    with pytest.raises(ValueError, match="before the start"):
        fastpath.switch_only_write(hits, 0, 10, words, np.zeros(2, np.uint32), 0, 5, [0] * 64)
    np.testing.assert_array_equal(words, before)


def test_numpy_integers_and_wrong_item_sizes():
    words, hits = np.arange(8, dtype=np.uint32), np.array([1, 1000], dtype=np.int64)
    new_words = np.array([7, 7], dtype=np.uint32)
    histogram = [0] * 64
    stop, next_hit, failed = fastpath.switch_only_write(hits, np.int64(0), np.int64(0), words, new_words,
                                                        np.int64(1), np.int64(5), histogram)
    assert (stop, next_hit) == (1, 1000)
    assert failed == 1 and histogram[1] == 1  # bit 1 of word 1 would switch 0 -> 1 and fails
    assert words.tolist() == [0, 5, 7, 3, 4, 5, 6, 7]
    with pytest.raises(TypeError, match="int64"):
        fastpath.switch_only_write(hits.astype(np.int32), 0, 0, words, new_words, 0, 5, [0] * 64)
    with pytest.raises(TypeError, match="4-byte words"):
        fastpath.switch_only_write(hits, 0, 0, words, new_words.astype(np.uint16), 0, 5, [0] * 64)
    with pytest.raises(IndexError):
        fastpath.switch_only_write(hits, 0, 0, words, new_words, np.iinfo(np.int64).max, 5, [0] * 64)


def test_a_bad_histogram_leaves_the_words_untouched():
    words, hits = np.zeros(4, dtype=np.uint32), np.array([0], dtype=np.int64)
    histogram = ["not a count"] + [0] * 63
    with pytest.raises(TypeError):
        fastpath.switch_only_write(hits, 0, 0, words, np.ones(4, dtype=np.uint32), 0, 5, histogram)
    assert words.tolist() == [0, 0, 0, 0] and histogram[0] == "not a count"


def test_version_says_which_write_path_runs(capsys):
    from memtech import cli

    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert "fault engine: compiled write path, memtech._fastpath" in capsys.readouterr().out

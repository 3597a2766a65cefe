"""Evaluation, the stored model and predict see the weights as a read of their memory returns them:
parity, SECDED and sanity decoding applied, not the raw stored words."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import digits_config
from test_storage import make_arena

from memtech import StoredModel, run_experiment
from memtech.memory import ErrorModel

ANY_1E3 = ErrorModel.uniform_write(1e-3)


@pytest.mark.parametrize("protection", ["parity", "secded", "sanity"])
def test_peek_is_a_read_without_its_cost(protection):
    arena = make_arena(ANY_1E3, 4096, protection=protection)
    values = np.random.default_rng(0).standard_normal(4096).astype(np.float32)
    for _ in range(5):
        arena.write(values)
    raw = arena.words.view(np.float32).copy()
    counters = arena.counters
    before = (counters.bits_read, counters.errors_detected, counters.errors_corrected, counters.values_zeroed,
              arena.clock.now_s)
    peeked = arena.peek()
    assert (counters.bits_read, counters.errors_detected, counters.errors_corrected, counters.values_zeroed,
            arena.clock.now_s) == before  # nothing counted, no time passed
    read = arena.read()
    np.testing.assert_array_equal(peeked.view(np.uint32), read.view(np.uint32))
    # the decoding did something: the raw words differ from what a read returns
    assert not np.array_equal(raw.view(np.uint32), read.view(np.uint32))
    if protection != "sanity":
        assert counters.errors_detected + counters.errors_corrected > 0


def test_an_all_mram_secded_run_is_scored_on_its_decoded_weights(registry, quiet_overflow):
    """At BER 3e-4 (every written bit may flip) SECDED corrects most words: the decoded weights score ~0.95
    (measured 0.947-0.949, seeds 0-1); the raw stored words, scored before this was fixed, gave 0.09-0.33."""
    config = digits_config("all_mram", mram={"ber": 3e-4, "write_error_mode": "any", "protection": "secded"})
    result = run_experiment(config, registry=registry)
    assert result.metrics()["errors_corrected"] > 10_000
    assert result.final_test_accuracy >= 0.9
    data = registry.dataset("digits").from_config({}, "dataset").load()
    model = StoredModel(result.values, result.model, registry)
    assert model.accuracy(data.x_test, data.y_test) == result.final_test_accuracy

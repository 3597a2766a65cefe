"""A role that leaves a memory and comes back finds the same physical cells: the stuck-at map persists."""

from __future__ import annotations

import numpy as np

from memtech.plugins import get_registry
from memtech.storage import Memory, SimClock, TensorStore

ROLES = ("weights", "biases", "activations", "optimizer")


def test_stuck_map_persists_across_a_return_to_the_same_memory():
    registry = get_registry()
    reram = registry.memory("reram").from_config({"ber": 0.0, "stuck_at_0_fraction": 0.01, "stuck_at_1_fraction": 0.01}, "m")
    sram = registry.memory("sram").from_config({}, "s")
    memories = {"reram": Memory("reram", reram, seed=3), "sram": Memory("sram", sram, seed=3)}
    store = TensorStore({"weights": 4096}, memories, np, SimClock())
    on_reram = {"weights": "reram"}
    store.enter_phase("a", on_reram, {"weights": np.zeros(4096, dtype=np.float32)})
    first = store.arenas["weights"]
    stuck = first.cells.stuck
    first_map = (stuck.words.copy(), stuck.and_masks.copy(), stuck.or_masks.copy())
    assert len(first_map[0]) > 0
    store.enter_phase("b", {"weights": "sram"})
    store.enter_phase("c", on_reram)
    second = store.arenas["weights"]
    assert second is not first
    stuck = second.cells.stuck
    for before, after in zip(first_map, (stuck.words, stuck.and_masks, stuck.or_masks)):
        np.testing.assert_array_equal(before, after)
    # And the stored values obey that same map after the return.
    stuck_one = stuck.or_masks != 0
    words = second.words[stuck.words[stuck_one]].astype(np.uint64)
    assert np.all(words & stuck.or_masks[stuck_one] == stuck.or_masks[stuck_one])

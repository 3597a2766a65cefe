"""The store: where each tensor role lives, and every read and write of it through its memory's errors.

A model's tensors of one role (weights, biases, activations, optimizer state) share one flat buffer, an
arena, in the memory that holds the role in the current phase; one call covers them all. Every access is
counted (bits, simulated time, flips, detections) per memory and per phase. From the top down:

* ``replicas``  — the K replicas of a batched job, each with its own store, read and written as one
  replica-major store (the only place that knows of replicas);
* ``placement`` — a run's store: each role's arena in the memory its phase places it in, per layer where
  the placement says so;
* ``memories``  — one memory of a run: its technology's models and its counters;
* ``arena``     — one role's buffer in one memory, putting together:
  ``words`` (the stored words, their code and decoding), ``writes`` and ``events`` (the error events, each
  with its own random stream), ``cells`` and ``weak_cells`` (stuck cells, wear, weak cells: persistent) and
  ``counters`` (what each access counts and costs).
"""

from __future__ import annotations

from memtech.storage.arena import Arena
from memtech.storage.counters import EVENTS, AccessCounters, SimClock
from memtech.storage.memories import Memory
from memtech.storage.placement import SplitArena, TensorStore, layer_memories
from memtech.storage.writes import write_path

ROLES = ("weights", "biases", "activations", "optimizer")

__all__ = ["ROLES", "EVENTS", "AccessCounters", "Arena", "Memory", "SimClock", "SplitArena", "TensorStore",
           "layer_memories", "write_path"]

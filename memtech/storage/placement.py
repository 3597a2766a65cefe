"""Where each tensor role lives: the arenas of a run, placed per phase (and, with a per-layer placement,
per layer)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from memtech.storage.arena import Arena
from memtech.storage.counters import SimClock
from memtech.storage.memories import Memory


def layer_memories(placement: Mapping[str, Any], role: str, n_layers: int) -> tuple[str, ...]:
    """The memory of each parameter layer's part of ``role`` under ``placement``: the role's own memory,
    unless ``placement["layers"]`` ({memory: [layer indices]}, negative indices from the end) names another."""
    memories = [placement[role]] * n_layers
    for memory, indices in (placement.get("layers") or {}).items():
        for index in indices:
            memories[index] = memory
    return tuple(memories)


class SplitArena:
    """One role held layer by layer, each layer's values in an arena of their own (in the memory the
    placement names for that layer), read and written as one flat buffer. Each layer's arena keys its fault
    streams by the layer and counts its accesses as that layer's, so accounting can be read per layer."""

    def __init__(self, role: str, slices: Sequence[tuple[int, int]], memories: Sequence[Memory], xp: Any,
                 clock: SimClock, phase: list[str]):
        self.role = role
        self.xp = xp
        self.n_values = slices[-1][1]
        self.slices = list(slices)
        self.parts = [Arena(f"{role}.layer{j}", stop - start, memory, xp, clock, phase, layer=f"layer{j}")
                      for j, ((start, stop), memory) in enumerate(zip(slices, memories))]
        self.memory_names = tuple(memory.name for memory in memories)

    def _overlaps(self, start: int, stop: int):
        for (first, last), part in zip(self.slices, self.parts):
            lo, hi = max(start, first), min(stop, last)
            if lo < hi:
                yield lo, hi, first, part

    def read(self, start: int = 0, stop: int | None = None) -> Any:
        stop = self.n_values if stop is None else stop
        pieces = [part.read(lo - first, hi - first) for lo, hi, first, part in self._overlaps(start, stop)]
        return pieces[0] if len(pieces) == 1 else self.xp.concatenate(pieces)

    def write(self, values: Any, start: int = 0) -> None:
        values = values.reshape(-1)  # a trainer may hand its (1, n) buffer
        for lo, hi, first, part in self._overlaps(start, start + len(values)):
            part.write(values[lo - start:hi - start], lo - first)

    def peek(self) -> Any:
        return self.xp.concatenate([part.peek() for part in self.parts])


class TensorStore:
    """All arenas of a run and the placement of each role in the current phase.

    ``layer_slices`` gives, per role a trainer stores layer by layer (weights, biases), each parameter layer's
    (start, stop) in one replica's buffer; a placement with ``layers`` then holds that role as a
    :class:`SplitArena`.
    """

    def __init__(self, sizes: Mapping[str, int], memories: Mapping[str, Memory], xp: Any, clock: SimClock,
                 layer_slices: Mapping[str, Sequence[tuple[int, int]]] | None = None):
        self.sizes = {role: int(n) for role, n in sizes.items() if n > 0}
        self.memories = dict(memories)
        self.xp = xp
        self.clock = clock
        self.layer_slices = {role: list(s) for role, s in (layer_slices or {}).items()}
        self._phase = [""]
        self.arenas: dict[str, Arena | SplitArena] = {}
        self._in_use: tuple[str, ...] = ()

    def _placed(self, role: str, placement: Mapping[str, Any]) -> str | tuple[str, ...]:
        """Where ``role`` goes: one memory's name, or with a per-layer placement one name per layer."""
        if placement.get("layers") and role in self.layer_slices:
            return layer_memories(placement, role, len(self.layer_slices[role]))
        return placement[role]

    def _new_arena(self, role: str, n_values: int, target: str | tuple[str, ...]) -> Arena | SplitArena:
        if isinstance(target, tuple):
            return SplitArena(role, self.layer_slices[role], [self.memories[m] for m in target], self.xp,
                              self.clock, self._phase)
        return Arena(role, n_values, self.memories[target], self.xp, self.clock, self._phase)

    @staticmethod
    def _where(arena: Arena | SplitArena) -> str | tuple[str, ...]:
        return arena.memory_names if isinstance(arena, SplitArena) else arena.memory.name

    @property
    def phase(self) -> str:
        return self._phase[0]

    def enter_phase(self, phase: str, placement: Mapping[str, str], initial: Mapping[str, Any] | None = None) -> None:
        """Place every role for ``phase``; a role that moves is read from its old memory and written to the new."""
        self._phase[0] = phase
        for role, n_values in self.sizes.items():
            target = self._placed(role, placement)
            current = self.arenas.get(role)
            if current is not None and self._where(current) == target:
                continue
            arena = self._new_arena(role, n_values, target)
            if current is not None:
                arena.write(current.read())
            elif initial is not None and role in initial:
                arena.write(self.xp.asarray(initial[role], dtype=self.xp.float32))
            self.arenas[role] = arena
        # Placement changes only here, so the per-step leakage charge reads a ready tuple.
        in_use = set()
        for arena in self.arenas.values():
            where = self._where(arena)
            in_use.update(where if isinstance(where, tuple) else (where,))
        self._in_use = tuple(sorted(in_use))

    def read(self, role: str, start: int = 0, stop: int | None = None) -> Any:
        return self.arenas[role].read(start, stop)

    def write(self, role: str, values: Any, start: int = 0) -> None:
        self.arenas[role].write(values, start)

    def peek(self, role: str) -> Any:
        return self.arenas[role].peek()

    def memories_in_use(self) -> tuple[str, ...]:
        """Names of the memories holding data in the current phase (sorted)."""
        return self._in_use

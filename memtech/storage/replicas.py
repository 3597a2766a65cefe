"""K replicas' stores behind the one store a trainer reads and writes.

A batched job trains K networks with one batched step, but each replica is a whole run of its own: its own
memories (rates, energies, protection), fault streams, counters, simulated clock and phase. So each replica has
its own :class:`~memtech.storage.placement.TensorStore`, built exactly as it would be alone, and :class:`ReplicaStore`
only splits and joins rows: the trainer's buffers are replica-major (row r is replica r's buffer alone), a
write hands row r to replica r's store and a read stacks what each store returns. Replica r's store therefore
sees the same accesses, in the same order and with the same values, as when the replica runs alone; its
random streams are keyed by its own seed and names (never by its position in the batch), so it draws the
same faults too.

A replica that diverged is frozen: its store is no longer read or written (its counters, clock and stored
values stay as they were when it diverged), and the batched step gets zeros in its rows.
"""

from __future__ import annotations

from typing import Any, Sequence

from memtech.storage.placement import TensorStore


class ReplicaStore:
    """The stores of K replicas, read and written as one replica-major store (offsets count one replica's
    values; a read returns K rows, flattened)."""

    def __init__(self, stores: Sequence[TensorStore], xp: Any):
        self.stores = list(stores)
        self.xp = xp
        self.active = [True] * len(self.stores)

    @property
    def replicas(self) -> int:
        return len(self.stores)

    def freeze(self, replica: int) -> None:
        """Stop every access to ``replica``'s store (it diverged)."""
        self.active[replica] = False

    def read(self, role: str, start: int = 0, stop: int | None = None) -> Any:
        rows = []
        for store, active in zip(self.stores, self.active):
            if active:
                rows.append(store.read(role, start, stop))
            else:
                end = store.sizes[role] if stop is None else stop
                rows.append(self.xp.zeros(end - start, dtype=self.xp.float32))
        return self.xp.concatenate(rows)

    def write(self, role: str, values: Any, start: int = 0) -> None:
        rows = values.reshape(len(self.stores), -1)
        for store, row, active in zip(self.stores, rows, self.active):
            if active:
                store.write(role, row, start)

    def peek(self, role: str) -> Any:
        return self.xp.concatenate([store.peek(role) for store in self.stores])


def load_replicas(stores: Sequence[TensorStore], phases: Sequence[tuple[str, Any]], initial: Any, xp: Any) -> Any:
    """Place replica r's roles for its own first phase ``phases[r]`` (name, placement) with its row of the
    replica-major ``initial`` values; returns the store a trainer steps: the replica's own store when there is
    one, else a :class:`ReplicaStore`."""
    k = len(stores)
    for r, (store, (phase, placement)) in enumerate(zip(stores, phases)):
        store.enter_phase(phase, placement, {role: v.reshape(k, -1)[r] for role, v in initial.items()})
    return stores[0] if k == 1 else ReplicaStore(stores, xp)

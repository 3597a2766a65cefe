"""Plugin hooks. A plugin implements any of these with ``@memtech.hookimpl``.

Each hook receives a ``register`` callback; call it once per component the plugin provides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:  # the contracts import this package's modules; hooks only need their names for typing
    from memtech.dataset import Dataset
    from memtech.memory import MemoryTechnology
    from memtech.trainer import Trainer

hookspec = pluggy.HookspecMarker("memtech")
hookimpl = pluggy.HookimplMarker("memtech")


@hookspec
def memtech_register_memories(register: Callable[[type[MemoryTechnology]], None]) -> None:
    """Register memory technologies: ``register(MyTechnology)``, a subclass of ``memtech.MemoryTechnology``."""


@hookspec
def memtech_register_trainers(register: Callable[[type[Trainer]], None]) -> None:
    """Register trainers: ``register(MyTrainer)``, a subclass of ``memtech.Trainer``."""


@hookspec
def memtech_register_datasets(register: Callable[[type[Dataset]], None]) -> None:
    """Register datasets: ``register(MyDataset)``, a subclass of ``memtech.Dataset``."""

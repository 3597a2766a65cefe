"""Installed as ``hydra_plugins.memtech_batched_launcher``: Hydra instantiates launchers only from classes
defined in its ``hydra_plugins`` namespace, so memtech's batched launcher (memtech.batched_launcher) gets its
Hydra name here. ``memtech-run`` also registers it explicitly, for editable installs, whose mapped packages
Hydra's plugin scan does not see."""

from memtech.batched_launcher import BatchedLauncher as _BatchedLauncher


class BatchedLauncher(_BatchedLauncher):
    """``hydra/launcher=batched``: see memtech.batched_launcher."""


__all__ = ["BatchedLauncher"]

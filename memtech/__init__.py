"""memtech: what does it cost, in accuracy, energy and time, to train a network whose tensors live in a
given memory technology?

The public API a plugin author needs is exported here; everything else is internal.
"""

from memtech.dataset import Data, Dataset
from memtech.errors import CapacityError, ConfigError, MemtechError, PluginError
from memtech.hookspecs import hookimpl
from memtech.memory import EnergyModel, ErrorModel, LatencyModel, MemoryParams, MemoryTechnology
from memtech.params import knob
from memtech.trainer import Trainer

__version__ = "0.1.0"

__all__ = [
    "CapacityError",
    "ConfigError",
    "Data",
    "Dataset",
    "EnergyModel",
    "ErrorModel",
    "LatencyModel",
    "MemoryParams",
    "MemoryTechnology",
    "MemtechError",
    "PluginError",
    "Trainer",
    "__version__",
    "hookimpl",
    "knob",
]

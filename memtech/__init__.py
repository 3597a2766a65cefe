"""memtech: what does it cost, in accuracy, energy and time, to train a network whose tensors live in a
given memory technology?

The public API is exported here: the contracts a plugin author implements (``MemoryTechnology`` and its
three models, ``Trainer``, ``Dataset``), the errors, and the few calls a user scripts a run with::

    result = memtech.run_experiment(config)      # validate, train, account
    result.save("out")                            # model.npz (no pickle) + result.json
    memtech.StoredModel.load("out").predict(x)    # score new data with the stored weights

Everything else is internal.
"""

from memtech.dataset import Data, Dataset
from memtech.errors import CapacityError, ConfigError, MemtechError, PluginError
from memtech.experiment import run_experiment
from memtech.hookspecs import hookimpl
from memtech.memory import EnergyModel, ErrorModel, LatencyModel, MemoryParams, MemoryTechnology
from memtech.params import knob
from memtech.plugins import load_plugins
from memtech.predict import StoredModel
from memtech.results import RunResult
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
    "RunResult",
    "StoredModel",
    "Trainer",
    "__version__",
    "hookimpl",
    "knob",
    "load_plugins",
    "run_experiment",
]

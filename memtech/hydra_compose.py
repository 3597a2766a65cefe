"""Each job of a sweep composed once, in the launching process.

Hydra composes every job of a sweep from scratch, and more than once: memtech checks every job up front
(:func:`memtech.hydra_callbacks.validate_sweep`), Hydra's sweeper checks each batch can be composed, and the
batched launcher composes each job to run it. Each composition reads and parses every config file again and
costs ~0.2 s, all of it serial in the launching process: for a sweep of cheap jobs trained in batches, that
was a large share of the sweep's time. :func:`compose_each_job_once` makes a config loader keep what it
composed.
"""

from __future__ import annotations

import copy
from typing import Any

from omegaconf import DictConfig, OmegaConf


def compose_each_job_once(config_loader: Any) -> None:
    """Make ``config_loader`` compose each job (master config, overrides) once: every request, the first
    included, gets its own deep copy of that composition (~10x cheaper than composing again), so no caller
    sees another's changes. (Caching the parsed config files across compositions instead is not safe: Hydra
    merges overrides into the loaded objects, so one job's values would leak into the next.)

    Compositions are kept for the loader's lifetime, one per job of the sweeps it composed; values that
    depend on when they are resolved (``${now:...}``) are resolved per job when used, as before.
    """
    if getattr(config_loader, "_memtech_composes_once", False):
        return
    compose = config_loader.load_sweep_config
    # (id of the master config, overrides) -> (the master config, kept so that its id is not reused; the job)
    composed: dict[tuple[int, tuple[str, ...]], tuple[DictConfig, DictConfig]] = {}

    def load_sweep_config(master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        key = (id(master_config), tuple(sweep_overrides))
        if key not in composed:
            composed[key] = (master_config, compose(master_config, list(sweep_overrides)))
        job = copy.deepcopy(composed[key][1])
        OmegaConf.copy_cache(from_config=master_config, to_config=job)  # as Hydra's own composition does
        return job

    config_loader.load_sweep_config = load_sweep_config
    config_loader._memtech_composes_once = True

"""Each job of a sweep composed once, in the launching process.

Hydra composes every job of a sweep from scratch, and more than once: memtech checks every job up front
(:func:`memtech.hydra_callbacks.validate_sweep`), Hydra's sweeper checks each batch can be composed, and the
launcher composes each job to run it. Each composition reads and parses every config file again and costs
~0.2 s, all of it serial in the launching process: for a sweep of cheap jobs trained in batches, that was
most of the sweep's time. :func:`compose_each_job_once` makes a config loader keep what it composed.
"""

from __future__ import annotations

import copy
from typing import Any

from hydra._internal.config_repository import IConfigRepository
from hydra.core.object_type import ObjectType
from omegaconf import DictConfig, OmegaConf


class SharedCacheRepository(IConfigRepository):
    """Hydra's config repository with one cache of parsed config files for all compositions of a loader.

    Hydra's own CachingConfigRepository caches within one composition (and deep-copies its delegate per
    composition); this one is the delegate, and its copies share the cache. A file is read when first needed.
    """

    def __init__(self, delegate: IConfigRepository, cache: dict[str, Any] | None = None):
        self.delegate = delegate
        self.cache: dict[str, Any] = {} if cache is None else cache

    def __deepcopy__(self, memo: dict[int, Any]) -> "SharedCacheRepository":
        # Hydra deep-copies its repository per composition: the copy shares the cache (keys are config
        # paths under the sweep's own search path, which the copies share)
        return SharedCacheRepository(copy.deepcopy(self.delegate, memo), self.cache)

    def load_config(self, config_path: str) -> Any:
        if config_path not in self.cache:
            self.cache[config_path] = self.delegate.load_config(config_path=config_path)
        return self.cache[config_path]

    def get_schema_source(self) -> Any:
        return self.delegate.get_schema_source()

    def group_exists(self, config_path: str) -> bool:
        return self.delegate.group_exists(config_path=config_path)

    def config_exists(self, config_path: str) -> bool:
        return self.delegate.config_exists(config_path=config_path)

    def get_group_options(self, group_name: str, results_filter: Any = ObjectType.CONFIG) -> list[str]:
        return self.delegate.get_group_options(group_name=group_name, results_filter=results_filter)

    def get_sources(self) -> list[Any]:
        return self.delegate.get_sources()

    def initialize_sources(self, config_search_path: Any) -> None:
        self.delegate.initialize_sources(config_search_path)


def _share_config_file_cache(config_loader: Any) -> None:
    repository = getattr(config_loader, "repository", None)
    if repository is not None and not isinstance(repository, _SharedCacheRepository):
        config_loader.repository = _SharedCacheRepository(repository)


def compose_each_job_once(config_loader: Any) -> None:
    """Make ``config_loader`` parse each config file once, and compose each job (master config, overrides)
    once: later requests get a deep copy of the first composition (~10x cheaper than composing again).

    Compositions are kept for the loader's lifetime, one per job of the sweeps it composed; values that
    depend on when they are resolved (``${now:...}``) are resolved per job when used, as before.
    """
    if getattr(config_loader, "_memtech_composes_once", False):
        return
    repository = getattr(config_loader, "repository", None)
    if repository is not None and not isinstance(repository, SharedCacheRepository):
        config_loader.repository = SharedCacheRepository(repository)
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

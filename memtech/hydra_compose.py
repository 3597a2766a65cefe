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

from omegaconf import DictConfig, OmegaConf, open_dict


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
    templates: dict[int, tuple[list[Any], DictConfig]] = {}  # per master config: its first job, composed

    def load_sweep_config(master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        key = (id(master_config), tuple(sweep_overrides))
        if key not in composed:
            from hydra.core.override_parser.overrides_parser import OverridesParser

            parsed = OverridesParser.create().parse_overrides(list(sweep_overrides))
            template = templates.get(id(master_config))
            job = derive_job(template[0], template[1], parsed) if template is not None else None
            if job is None:
                job = compose(master_config, list(sweep_overrides))
                templates.setdefault(id(master_config), (parsed, job))
            composed[key] = (master_config, job)
        job = copy.deepcopy(composed[key][1])
        OmegaConf.copy_cache(from_config=master_config, to_config=job)  # as Hydra's own composition does
        return job

    config_loader.load_sweep_config = load_sweep_config
    config_loader._memtech_composes_once = True


def derive_job(template_overrides: list[Any], template: DictConfig, overrides: list[Any]) -> DictConfig | None:
    """The job Hydra would compose for ``overrides``, derived from ``template`` (composed for
    ``template_overrides``) when the two differ only in the values of plain config values — the usual sweep of
    numbers (``memories.mram.ber=1e-8``, ``seed=3``): copy the template, set those values as Hydra's own
    override step sets them (``OmegaConf.update`` in struct mode), and record the job's overrides. None when
    anything else differs (a config group choice, ``+``/``~``, a hydra setting, a list, an interpolation):
    then the job is composed in full. ``tests/test_hydra_compose.py`` checks derived jobs equal composed ones.
    """
    from hydra._internal.config_loader_impl import get_overrides_dirname
    from hydra.core.override_parser.types import OverrideType

    if len(overrides) != len(template_overrides):
        return None
    choices = set(template.hydra.runtime.choices.keys())
    changes = []
    for new, old in zip(overrides, template_overrides):
        if new.key_or_group != old.key_or_group or new.package != old.package or new.type != old.type:
            return None
        if new.input_line == old.input_line:
            continue
        value = new.value()
        plain = (new.type == OverrideType.CHANGE and new.package is None and not new.is_hydra_override()
                 and new.key_or_group not in choices and not new.is_sweep_override())
        if not plain or isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return None
        if isinstance(value, str) and "${" in value:
            return None
        node = OmegaConf.select(template, new.key_or_group, throw_on_missing=False, default=_ABSENT)
        if node is _ABSENT or OmegaConf.is_config(node) or isinstance(node, bool):
            return None
        changes.append((new.key_or_group, value))
    job = copy.deepcopy(template)
    for key, value in changes:
        OmegaConf.update(job, key, value, merge=True)
    with open_dict(job.hydra):
        job.hydra.overrides.task = [o.input_line for o in overrides if not o.is_hydra_override()]
        settings = job.hydra.job.config.override_dirname
        job.hydra.job.override_dirname = get_overrides_dirname(
            overrides=[o for o in overrides if not o.is_hydra_override()], kv_sep=settings.kv_sep,
            item_sep=settings.item_sep, exclude_keys=settings.exclude_keys)
    return job


_ABSENT = object()

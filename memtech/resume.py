"""Resuming a sweep (``resume=true``): jobs whose composed config already FINISHED in the store are skipped,
the rest run under the sweep's original parent run.

A job is identified by a hash of its composed config (what determines its result: not the tracking,
progress or naming settings), recorded on every run as ``memtech.config_hash``; a sweep by a hash of its
command-line overrides, recorded on its parent run as ``memtech.sweep_key``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Mapping

from memtech import tracking

CONFIG_HASH_TAG = "memtech.config_hash"
SWEEP_KEY_TAG = "memtech.sweep_key"
# top-level keys that do not change a job's result, left out of its hash
NOT_IN_HASH = frozenset({"tracking", "progress", "resume", "hydra", "output_dir", "name", "description"})


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def config_hash(config: Mapping[str, Any]) -> str:
    return _digest({key: value for key, value in config.items() if key not in NOT_IN_HASH})


def sweep_key(overrides: Iterable[str], experiment: str) -> str:
    """The same command line (``resume=`` aside) on the same experiment is the same sweep."""
    kept = sorted(o for o in overrides if o.split("=", 1)[0].lstrip("+~") != "resume")
    return _digest({"experiment": experiment, "overrides": kept})


def finished_run(uri: str, experiment: str, digest: str) -> Any | None:
    """The latest FINISHED run of this config in the store, or None."""
    experiment_id = tracking.prepare_store(uri, experiment)
    runs = tracking.client(uri).search_runs(
        [experiment_id], f"tags.`{CONFIG_HASH_TAG}` = '{digest}' and attributes.status = 'FINISHED'",
        max_results=1, order_by=["attributes.start_time DESC"])
    return runs[0] if runs else None


def parent_to_resume(uri: str, experiment: str, key: str) -> str | None:
    """The latest parent run of the same sweep, whatever its status, or None."""
    experiment_id = tracking.prepare_store(uri, experiment)
    runs = tracking.client(uri).search_runs(
        [experiment_id], f"tags.`{SWEEP_KEY_TAG}` = '{key}' and tags.`{tracking.PARENT_TAG}` = 'parent'",
        max_results=1, order_by=["attributes.start_time DESC"])
    return runs[0].info.run_id if runs else None


def resume_requested(config: Mapping[str, Any]) -> bool:
    from memtech.errors import ConfigError

    value = config.get("resume", False)
    if not isinstance(value, bool):
        raise ConfigError("resume", value, "true or false")
    return value

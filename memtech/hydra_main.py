"""``memtech-run``: the thin Hydra main. Hydra composes the config from ``conf/``; this module validates it,
runs it through :func:`memtech.experiment.run_experiment` and hands the result to the tracking sink.

The configs ship as the package ``memtech_conf`` and are found through ``pkg://memtech_conf``, so an
editable checkout and a wheel installed elsewhere behave the same. Hydra's outputs go under ``runs/``
(see :func:`memtech.tracking.runs_dir`).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import hydra
import yaml
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from memtech import resume, tracking
from memtech.errors import ConfigError, MemtechError
from memtech.hydra_callbacks import SWEEP_STATE_ENV
from memtech.progress import (SWEEP_BAR_ENV, EpochProgress, baseline_hint, command, format_summary, progress_enabled,
                              stopped_note)


def _register_launchers() -> None:
    """``hydra/launcher=batched`` (jobs trained as replicas of batched jobs, memtech.batched_launcher) and
    ``hydra/launcher=joblib_all_cores``: the joblib launcher with one job per core (Hydra's default is 10)."""
    from memtech.batched_launcher import BatchedLauncherConf

    ConfigStore.instance().store(group="hydra/launcher", name="batched", node=BatchedLauncherConf, provider="memtech")
    try:
        from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf
    except ImportError:  # the launcher plugin is a dependency; without it only the basic launcher works
        return
    ConfigStore.instance().store(group="hydra/launcher", name="joblib_all_cores", node=JobLibLauncherConf(n_jobs=-1),
                                 provider="memtech")


_register_launchers()


def _register_launcher_plugin() -> None:
    """Make ``hydra/launcher=batched`` (the default) instantiable whatever Hydra's plugin scan found (an
    editable install's mapped packages are invisible to it). Done at import, so that every entry into Hydra
    from this module, ``memtech-run`` or not, finds it."""
    from hydra.core.plugins import Plugins
    from hydra_plugins.memtech_batched_launcher import BatchedLauncher

    Plugins.instance().register(BatchedLauncher)


_register_launcher_plugin()

# Registered at import so that sweep workers, which import this module to unpickle the task, resolve it too.
OmegaConf.register_new_resolver("memtech_runs_dir", lambda: str(tracking.runs_dir()), replace=True)


def _registry(plugins_dir: Any, strict: Any = False):
    """The plugins a job uses: the installed ones, plus ``plugins_dir``; ``plugins_strict`` (or
    $MEMTECH_STRICT_PLUGINS) makes a plugin that fails to load an error instead of a warning."""
    from memtech.plugins import get_registry, load_plugins, strict_from_environment

    if not isinstance(strict, bool):
        raise ConfigError("plugins_strict", strict, "true or false")
    strict = strict or strict_from_environment()
    if not plugins_dir and not strict:
        return get_registry()
    dirs = [] if not plugins_dir else [plugins_dir] if isinstance(plugins_dir, str) else list(plugins_dir)
    return load_plugins(plugin_dirs=dirs, strict=strict)


def register_plugin_options(plugins_dirs: Sequence[str] = ()) -> list[str]:
    """Make every installed plugin (and those of ``plugins_dirs``) a config option by name
    (memtech.plugin_configs); done at import and, for a ``plugins_dir=`` on the command line, by main()."""
    import importlib.resources

    from memtech.plugin_configs import register_plugin_options as register

    try:
        registry = _registry(list(plugins_dirs) or None)
    except MemtechError:
        return []  # a plugin problem under strict loading: each job reports it when it loads its plugins
    return register(registry, Path(str(importlib.resources.files("memtech_conf"))))


register_plugin_options()


def _job_overrides() -> list[str]:
    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # not inside a Hydra job (the Python API)
        return []


def _run_name(config: Mapping[str, Any], overrides: list[str], multirun: bool) -> str:
    if multirun and overrides:
        # "ber=1e-08 first_fraction=0.2": the swept values, short enough for the UI's run list
        return " ".join(o.split("=", 1)[0].rsplit(".", 1)[-1] + "=" + o.split("=", 1)[1] for o in overrides if "=" in o)
    return str(config.get("name") or "memtech")


def say_job(line: str, error: bool = False) -> None:
    """A sweep job's line (its result, or why it failed or was skipped). Where the sweep shows a progress bar,
    the bar prints it from the job's record instead, above the bar (a worker's print would cut it in half)."""
    if not os.environ.get(SWEEP_BAR_ENV):
        print(line, file=sys.stderr if error else sys.stdout, flush=True)


def write_job_state(job_num: int, status: str, run_id: str | None, error: str | None,
                    overrides: list[str] | None = None, keep_finished: bool = False, line: str | None = None) -> bool:
    """The sweep's own record of a job (a file per job, followed by the sweep's progress bar and read when the
    sweep ends); ``line`` is what the job says (say_job); ``keep_finished`` leaves the record of a job that had
    already finished (a worker lost after it) as it is, and returns False."""
    state = os.environ.get(SWEEP_STATE_ENV)
    if not state:
        return True
    Path(state).mkdir(parents=True, exist_ok=True)
    path = Path(state) / f"job-{job_num}.json"
    if keep_finished and path.is_file() and json.loads(path.read_text())["status"] in ("FINISHED", "SKIPPED"):
        return False
    payload = {"job": job_num, "status": status, "run_id": run_id, "error": error,
               "overrides": _job_overrides() if overrides is None else overrides, "line": line}
    # written whole, then renamed: a worker killed mid-write leaves no half a record
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(payload))
    partial.replace(path)
    return True



def _plain_config(cfg: DictConfig) -> dict[str, Any]:
    """The composed config as plain data, interpolations resolved; a missing mandatory value is a ConfigError."""
    try:
        config = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as exc:
        raise ConfigError(str(exc.full_key), "???", "a value (this key is mandatory)") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(str(getattr(exc, "full_key", "config")), getattr(exc, "msg", str(exc)), "a resolvable value") from None
    assert isinstance(config, dict)
    config.pop("hydra", None)
    return config


def _checked_settings(cfg: DictConfig, multirun: bool) -> tuple[dict[str, Any], Any, bool, Any]:
    """(plain config, tracking params, progress on?, plugin registry); raises ConfigError on a bad value."""
    config = _plain_config(cfg)
    resume.resume_requested(config)
    track = tracking.tracking_params(config.get("tracking"))
    show_progress = progress_enabled(config.get("progress", "auto"), multirun)
    return config, track, show_progress, _registry(config.get("plugins_dir"), config.get("plugins_strict", False))


def validate_job_config(cfg: DictConfig, data_cache: dict[str, Any] | None = None) -> None:
    """Everything a job checks before it starts work (config values, data, capacities), without starting it;
    used on a whole sweep before its first job. ``data_cache`` shares loaded datasets between jobs."""
    from memtech.experiment import build_spec, preflight

    config, _, _, registry = _checked_settings(cfg, multirun=True)
    spec = build_spec(config, registry)
    cache = {} if data_cache is None else data_cache
    key = json.dumps(config.get("dataset"), sort_keys=True, default=str)
    cache[key] = preflight(spec, cache.get(key))


@dataclass
class Job:
    """One job, validated and (with MLflow tracking) recorded as started: what running and finishing it need."""

    config: dict[str, Any]
    track: Any
    registry: Any
    uri: str | None
    spec: Any
    data: Any
    run: tracking.MlflowRun | None
    overrides: list[str]
    job_num: int
    output_dir: Path | None
    multirun: bool
    show_progress: bool
    finished_as: str | None = None  # resume=true: the run that already finished this config (nothing to do)


def open_job(cfg: DictConfig, *, multirun: bool, overrides: list[str], job_num: int = 0,
             output_dir: Path | None = None, tags: Mapping[str, str] | None = None, data: Any = None) -> Job:
    """Validate everything (config, data, capacities) and only then open the job's MLflow run and log its
    params and config. A job that fails here is recorded as FAILED (in a sweep) and the error raised."""
    from memtech.experiment import build_spec, preflight
    from memtech.plugins import problems as plugin_problems

    run: tracking.MlflowRun | None = None
    try:
        config, track, show_progress, registry = _checked_settings(cfg, multirun)
        for problem in plugin_problems(registry):
            print(problem, file=sys.stderr)
        uri = tracking.resolve_uri(track.uri) if track.backend == "mlflow" else None
        spec_error: MemtechError | None = None
        spec = None  # so that an unexpected error in build_spec is reported as itself
        try:
            spec = build_spec(config, registry)
            data = preflight(spec, data)  # the data read and checked, capacities too, before any run is recorded
        except MemtechError as exc:
            spec_error = exc
        if spec_error is not None and not multirun:
            raise spec_error  # a typo in a single run is not worth a FAILED run in the store
        if spec_error is None and uri is not None and resume.resume_requested(config):
            done = resume.finished_run(uri, track.experiment, resume.config_hash(config))
            if done is not None:
                write_job_state(job_num, "SKIPPED", done.info.run_id, None, overrides,
                                line=skipped_line(job_num, multirun, done.info.run_id, overrides))
                return Job(config, track, registry, uri, spec, data, None, overrides, job_num, output_dir, multirun,
                           show_progress, finished_as=done.info.run_id)
        if uri is not None:
            try:
                run = tracking.MlflowRun(
                    uri, track.experiment, _run_name(config, overrides, multirun),
                    {**tracking.run_tags(config, overrides=overrides), resume.CONFIG_HASH_TAG: resume.config_hash(config),
                     "memtech.job": str(job_num),
                     **(tags or {})},
                    os.environ.get(tracking.PARENT_RUN_ENV),
                )
            except MemtechError:
                raise  # the store itself refused (a folder, not a database): its message says so
            except Exception as exc:  # noqa: BLE001 - MLflow and SQLAlchemy raise many types
                raise MemtechError(
                    f"cannot record the run in the MLflow store {uri}: {type(exc).__name__}: {exc} "
                    "(tracking=none runs without recording)"
                ) from exc
            run.log_params(config)
            # PyYAML on the plain config: OmegaConf.to_yaml re-wraps it first (~50 ms per job in a sweep)
            run.log_files({"config.yaml": yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
                           "overrides.txt": "\n".join(overrides) + "\n"})
            if spec is not None and data is not None:
                run.log_dataset(data, spec.dataset.name, spec.dataset.source())
        if spec_error is not None:
            raise spec_error
    except BaseException as exc:
        fail_job(job_num, run, exc, overrides)
        raise
    return Job(config, track, registry, uri, spec, data, run, overrides, job_num, output_dir, multirun, show_progress)


def fail_job(job_num: int, run: tracking.MlflowRun | None, exc: BaseException, overrides: list[str]) -> None:
    """Record a job that failed or was interrupted: the sweep's own record first (a local file, and it
    decides the sweep's exit status), then its MLflow run (FAILED, or KILLED when interrupted)."""
    write_job_state(job_num, "FAILED", run.run_id if run else None, f"{type(exc).__name__}: {exc}", overrides)
    if run is not None:
        run.fail(exc)


def finish_job(job: Job, result: Any) -> float:
    """Save and record a finished job's result, and report it; returns its final test accuracy."""
    try:
        if job.output_dir is not None:
            result.save(job.output_dir)
        if job.run is not None:
            example = job.data.x_test[:5] if job.data is not None else None
            job.run.finish(result, job.output_dir, log_model=job.track.log_model, input_example=example)
    except BaseException as exc:
        fail_job(job.job_num, job.run, exc, job.overrides)
        raise
    run, overrides, output_dir = job.run, job.overrides, job.output_dir
    line = (f"job {job.job_num}: accuracy {result.final_test_accuracy:.4f}  energy {result.total_energy_j:.4g} J"
            + (f"  DIVERGED ({stopped_note(result)})" if result.diverged else "")
            + (f"  [{' '.join(overrides)}]" if overrides else "")
            + (f"  -> {output_dir}" if output_dir is not None else ""))
    write_job_state(job.job_num, "FINISHED", run.run_id if run else None, None, overrides, line=line)

    if job.multirun:
        say_job(line)
    else:
        config, uri, track = job.config, job.uri, job.track
        baseline = hint = None
        where = f"results: {output_dir}" if output_dir else None
        if uri is not None and run is not None:
            baseline = tracking.find_baseline(uri, track.experiment, config, exclude_run_id=run.run_id)
            if baseline is None:
                hint = baseline_hint(config, overrides, uri, track.experiment)
            where = (f"recorded as MLflow run {run.run_id} in {uri}\n"
                     f"look: `{command('memtech')} ui` (MLflow UI on 127.0.0.1), `{command('memtech')} compare`; "
                     f"outputs in {output_dir}")
        print(format_summary(result, str(config.get("name")), baseline, where, hint))
    return result.final_test_accuracy


def run_job(cfg: DictConfig, *, multirun: bool, output_dir: Path | None = None, job_num: int = 0) -> float | None:
    """Validate, run, record and report one composed config. Returns the final test accuracy."""
    from memtech.experiment import run_experiment

    job = open_job(cfg, multirun=multirun, overrides=_job_overrides(), job_num=job_num, output_dir=output_dir)
    if job.finished_as is not None:
        report_skipped(job)
        return None
    progress = EpochProgress(job.show_progress)

    def on_epoch(record: Any, total: int) -> None:
        progress(record, total)
        if job.run is not None:
            job.run.log_epoch(record)

    limits = _thread_limits(multirun)
    try:
        result = run_experiment(job.spec, registry=job.registry, on_epoch=on_epoch, data=job.data)
    except BaseException as exc:
        fail_job(job_num, job.run, exc, job.overrides)
        raise
    finally:
        progress.close()
        if limits is not None:
            limits.restore_original_limits()
    return finish_job(job, result)


def skipped_line(job_num: int, multirun: bool, run_id: str, overrides: list[str]) -> str:
    what = f"job {job_num}" if multirun else "this run"
    return (f"{what}: already FINISHED as run {run_id} (resume=true): skipped"
            + (f"  [{' '.join(overrides)}]" if overrides else ""))


def report_skipped(job: Job) -> None:
    line = skipped_line(job.job_num, job.multirun, str(job.finished_as), job.overrides)
    if job.multirun:
        say_job(line)
    else:
        print(line)


def run_opened_jobs(jobs: Sequence[Job]) -> list[float | None]:
    """Train opened sweep jobs as replicas of batched jobs (those that can share a batch do; a trainer without
    replica support trains its jobs one by one), then finish each. A job that fails is recorded FAILED and gives
    None, as under the joblib launcher; an interruption marks the jobs of the batch under way and is raised."""
    from memtech.experiment import batch_key, run_batch

    outcomes: list[float | None] = [None] * len(jobs)
    batches: dict[str, list[int]] = {}
    for index, job in enumerate(jobs):
        if job.finished_as is not None:
            report_skipped(job)
            continue
        key = batch_key(job.config) if job.spec.trainer_cls.supports_replicas else f"alone {index}"
        batches.setdefault(key, []).append(index)
    limits = _thread_limits(multirun=True)
    try:
        for indices in batches.values():
            members = [jobs[i] for i in indices]
            for job in members:
                if job.run is not None:  # a batch's runs get their curves in their final log_batch
                    job.run.flush_every = None
            callbacks = [(lambda record, total, run=job.run: run.log_epoch(record)) if job.run else None
                         for job in members]
            try:
                results = run_batch([job.spec for job in members], registry=members[0].registry,
                                    on_epoch=callbacks, data=members[0].data)
            except BaseException as exc:
                for job in members:
                    fail_job(job.job_num, job.run, exc, job.overrides)
                    say_job(f"job {job.job_num} FAILED: {type(exc).__name__}: {exc}", error=True)
                if not isinstance(exc, Exception):
                    raise
                continue
            for index, job, result in zip(indices, members, results):
                try:
                    outcomes[index] = finish_job(job, result)
                except Exception as exc:  # noqa: BLE001 - recorded FAILED by finish_job; the others go on
                    say_job(f"job {job.job_num} FAILED: {type(exc).__name__}: {exc}", error=True)
    finally:
        if limits is not None:
            limits.restore_original_limits()
    return outcomes


def _thread_limits(multirun: bool):
    """Sweep jobs share the machine: one BLAS thread each (joblib reuses workers, so limits are undone after)."""
    if not multirun:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=int(os.environ.get("OMP_NUM_THREADS", "1") or 1))


@hydra.main(version_base="1.3", config_path="pkg://memtech_conf", config_name="config")
def _hydra_entry(cfg: DictConfig) -> float | None:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    output_dir = Path(hc.runtime.output_dir)
    job_num = int(hc.job.num) if multirun else 0
    try:
        return run_job(cfg, multirun=multirun, output_dir=output_dir, job_num=job_num)
    except Exception as exc:
        if multirun:
            # Recorded as FAILED (MLflow and the sweep state); the other jobs go on and the callback
            # reports the failure when the sweep ends.
            say_job(f"job {job_num} FAILED: {type(exc).__name__}: {exc}", error=True)
            return None
        if isinstance(exc, MemtechError):
            print(f"memtech-run: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        raise


def main() -> None:
    from memtech.hydra_callbacks import FAILED_JOBS, end_interrupted_sweep
    from memtech.interrupts import unwinding_on_signals

    from memtech.plugin_configs import plugins_dirs_in

    if plugins_dirs_in(sys.argv[1:]):  # their plugins become options before Hydra composes the config
        register_plugin_options(plugins_dirs_in(sys.argv[1:]))
    # SIGTERM (`kill`, a scheduler) unwinds like Ctrl-C, and neither cuts a store write in half: a run or
    # sweep stopped either way is marked KILLED
    with unwinding_on_signals():
        try:
            _hydra_entry()
        except KeyboardInterrupt:
            print("memtech-run: interrupted", file=sys.stderr)  # Ctrl-C needs no traceback
            sys.exit(130)
        finally:
            end_interrupted_sweep()  # closes what an interrupted sweep left open; nothing after a normal end
    if FAILED_JOBS:
        sys.exit(1)


if __name__ == "__main__":
    main()

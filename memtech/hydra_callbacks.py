"""Hydra callback that makes a multirun safe to track: the store, the experiment and the parent run exist
before the first worker starts, BLAS is capped per job, and failed jobs are reported when the sweep ends.

On a fresh SQLite store, parallel jobs that each create the schema race and lose runs (3 of 4 were lost in
one trial), hence all creation happens here, once, in the launching process. Jobs learn the parent run id
from ``$MEMTECH_PARENT_RUN_ID`` (inherited by joblib/loky workers and by submitit jobs) and leave their
status in the folder named by ``$MEMTECH_SWEEP_STATE``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from memtech import resume, tracking
from memtech.errors import MemtechError
from memtech.liveness import process_tags
from memtech.progress import SWEEP_BAR_ENV, SweepProgress, command, sweep_progress_enabled

SWEEP_STATE_ENV = "MEMTECH_SWEEP_STATE"  # the folder where the sweep's jobs leave their records

BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


FAILED_JOBS: list[dict[str, Any]] = []  # jobs of the sweeps this process launched that failed
# (tracking URI, parent run id) of the sweep under way, until on_multirun_end closes its parent run
_OPEN_PARENT: tuple[str, str] | None = None
_SWEEP_ENDED = False  # on_multirun_end was reached: an open parent then means its closing failed
_OPEN_BAR: SweepProgress | None = None  # the progress bar of the sweep under way, if it shows one


def close_bar() -> None:
    """End the sweep's progress bar (its last jobs' lines printed first); a no-op where none shows."""
    global _OPEN_BAR
    if _OPEN_BAR is not None:
        bar, _OPEN_BAR = _OPEN_BAR, None
        bar.close()


def end_interrupted_sweep() -> None:
    """Close the parent run of a sweep that did not end normally, and the jobs it left RUNNING: KILLED when
    the sweep was interrupted (Ctrl-C, SIGTERM, a crash), FAILED when the sweep ended but closing its parent
    failed. Never raises; a second Ctrl-C or SIGTERM meanwhile is ignored. Called by memtech.hydra_main.main."""
    global _OPEN_PARENT
    close_bar()
    if _OPEN_PARENT is None:
        return
    uri, parent_run_id = _OPEN_PARENT
    _OPEN_PARENT = None
    status = "FAILED" if _SWEEP_ENDED else "KILLED"
    in_main_thread = threading.current_thread() is threading.main_thread()
    held = (signal.SIGINT, signal.SIGTERM) if in_main_thread else ()
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in held}  # a second Ctrl-C waits
    try:
        client = tracking.client(uri)
        left_running = [run for run in tracking.child_runs(uri, parent_run_id) if run.info.status == "RUNNING"]
        for run in left_running:
            client.set_terminated(run.info.run_id, status)
        if not _SWEEP_ENDED:
            client.set_tag(parent_run_id, "memtech.interrupted", "1")
        client.set_terminated(parent_run_id, status)
        what = "ended without closing its parent run" if _SWEEP_ENDED else "interrupted"
        print(f"memtech: sweep {what}; parent run {parent_run_id} and {len(left_running)} unfinished job "
              f"run(s) marked {status}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - the interruption itself is what the user must see
        print(f"memtech: could not mark the sweep's open runs {status}: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _release_reused_workers() -> None:
    """Shut joblib's reusable worker pool down: its workers keep the environment they started with (parent
    run id, state folder), so a later sweep in the same process must get fresh ones."""
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:
        return
    executor = reusable_executor._executor  # None when no sweep ran in this process: nothing to start or stop
    if executor is not None:
        executor.shutdown(wait=True)


def sweep_job_overrides(config: DictConfig, config_loader: Any) -> list[list[str]] | None:
    """The overrides of every job Hydra's basic sweeper will launch, in its order; None for other sweepers."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not str(config.hydra.sweeper.get("_target_", "")).endswith(".BasicSweeper"):
        return None
    params = config.hydra.sweeper.get("params") or {}
    # unresolved, as Hydra hands them to the sweeper
    task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    arguments = [f"{key}={value}" for key, value in params.items()] + list(task)
    parser = OverridesParser.create(config_loader=config_loader)
    batches = BasicSweeper.split_arguments(parser.parse_overrides(arguments), None)
    return [job for batch in batches for job in batch]


_DATASETS_KEPT = 4  # loaded datasets kept while checking a sweep (jobs that share one load it once)


def check_launcher(launcher: Any) -> None:
    """The worker and batch counts of the sweep's launcher, before its parent run exists."""
    from memtech.batched_launcher import check_counts

    if isinstance(launcher, DictConfig):
        check_counts(launcher.get("n_jobs"), launcher.get("max_replicas", 1))


def validate_sweep(config: DictConfig) -> int | None:
    """Compose and check every job of the sweep before the first one starts; raise one MemtechError that
    names each bad job, its overrides and the problem. Checks what each job would check itself. Returns the
    number of jobs (None where the sweeper's jobs cannot be listed from here).

    A job this cannot check from here (a ``${hydra:...}`` value needs the job's own context, a data file
    that fails to parse) is left to check itself when it starts, as every job does.
    """
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from memtech.hydra_compose import compose_each_job_once
    from memtech.hydra_main import validate_job_config

    if not GlobalHydra.instance().is_initialized():
        return None
    loader = GlobalHydra.instance().hydra.config_loader
    compose_each_job_once(loader)  # composed here, checked by Hydra's sweeper, run by the launcher: once
    jobs = sweep_job_overrides(config, loader)
    if not jobs:
        return None  # another sweeper: each job checks its own config before it starts
    if len(jobs) > 50:  # ~0.1 s per job: say why a large sweep takes a moment to start
        print(f"memtech: checking the configs of all {len(jobs)} sweep jobs before starting any")
    problems: list[str] = []
    data_cache: dict[str, Any] = {}
    hydra_config = HydraConfig.instance()
    sweep_hydra_config = hydra_config.cfg
    try:
        for number, overrides in enumerate(jobs):
            try:
                # as Hydra's launchers prepare a job: its own hydra settings (for ${hydra:...}), then without them
                job_config = loader.load_sweep_config(config, list(overrides))
                with open_dict(job_config):
                    job_config.hydra.job.id = job_config.hydra.job.num = number
                hydra_config.set_config(job_config)
                with open_dict(job_config):
                    del job_config["hydra"]
                OmegaConf.to_container(job_config, resolve=True)  # e.g. runtime.output_dir exists only in the job
            except Exception:  # noqa: BLE001 - not checkable from here: the job checks itself when it starts
                continue
            try:
                validate_job_config(job_config, data_cache)
            except MemtechError as exc:
                problems.append(f"  job {number} ({' '.join(overrides)}): {exc}")
            except Exception:  # noqa: BLE001 - e.g. a data file that fails to parse: the job reports it itself
                pass
            while len(data_cache) > _DATASETS_KEPT:
                data_cache.pop(next(iter(data_cache)))
    finally:
        hydra_config.cfg = sweep_hydra_config
    if problems:
        raise MemtechError(f"{len(problems)} of {len(jobs)} sweep jobs have an invalid config; no job was started:\n"
                           + "\n".join(problems))
    return len(jobs)


class MemtechCallback(Callback):
    def __init__(self, blas_threads_per_job: int = 1) -> None:
        if isinstance(blas_threads_per_job, bool) or not isinstance(blas_threads_per_job, int) or blas_threads_per_job < 1:
            raise MemtechError(
                f"hydra.callbacks.memtech.blas_threads_per_job must be a positive integer, got {blas_threads_per_job!r}"
            )
        self.blas_threads_per_job = blas_threads_per_job
        self.parent_run_id: str | None = None
        self.uri: str | None = None
        self._saved_env: dict[str, str | None] = {}

    def _setenv(self, key: str, value: str) -> None:
        self._saved_env.setdefault(key, os.environ.get(key))
        os.environ[key] = value

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        total_jobs = None
        try:
            check_launcher(config.hydra.get("launcher"))
            total_jobs = validate_sweep(config)
            show_bar = total_jobs is not None and sweep_progress_enabled(config.get("progress", "auto"))
        except MemtechError as exc:
            print(f"memtech-run: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        except Exception as exc:  # noqa: BLE001 - the jobs still check themselves; the sweep must be prepared
            print(f"memtech: could not check the sweep's jobs up front ({type(exc).__name__}: {exc}); "
                  "each job checks its own config when it starts", file=sys.stderr)
        try:
            self._start(config)
        except Exception as exc:  # noqa: BLE001
            # Hydra turns a callback's exception into a warning and would start the jobs anyway, against a
            # store that is not ready (the race that loses runs): stop the sweep here instead.
            print(f"memtech-run: error: cannot prepare the sweep's tracking: {type(exc).__name__}: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        if total_jobs is not None and show_bar:
            self._start_bar(total_jobs)

    def _start_bar(self, total_jobs: int) -> None:
        """The jobs-done bar; from here on the jobs leave their lines to it (SWEEP_BAR_ENV), and workers are
        started after this point, so they see that."""
        global _OPEN_BAR
        self._setenv(SWEEP_BAR_ENV, "1")
        _OPEN_BAR = SweepProgress(total_jobs, Path(os.environ[SWEEP_STATE_ENV]))

    def _start(self, config: DictConfig) -> None:
        # Workers are spawned after this point and inherit the environment: BLAS reads it at import.
        for key in BLAS_ENV:
            self._setenv(key, str(self.blas_threads_per_job))
        sweep_dir = Path(str(config.hydra.sweep.dir))
        # A folder of its own per sweep: a reused sweep dir must not count an earlier sweep's jobs.
        self._setenv(SWEEP_STATE_ENV, str(sweep_dir / ".memtech-jobs" / uuid.uuid4().hex))

        node = config.get("tracking")
        track = tracking.tracking_params(OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node)
        if track.backend != "mlflow":
            return
        self.uri = tracking.resolve_uri(track.uri)
        # Children log to the same store even if their URI would resolve differently (other cwd, node).
        self._setenv("MLFLOW_TRACKING_URI", self.uri)
        overrides = list(config.hydra.overrides.task)
        params_node = config.hydra.sweeper.get("params")
        sweeper_params = OmegaConf.to_container(params_node, resolve=True) if isinstance(params_node, DictConfig) else {}
        swept = sorted({o.split("=", 1)[0] for o in overrides if "," in o.split("=", 1)[-1]} | set(sweeper_params))
        tags = tracking.run_tags({}, overrides=overrides)
        tags.pop(tracking.ALL_SRAM_TAG, None)
        tags.pop(tracking.BASELINE_KEY_TAG, None)
        tags["memtech.swept"] = ",".join(swept)
        tags["memtech.sweep_dir"] = str(sweep_dir)
        key = resume.sweep_key(overrides, track.experiment)
        tags[resume.SWEEP_KEY_TAG] = key
        resumed = resume.parent_to_resume(self.uri, track.experiment, key) if config.get("resume") is True else None
        if resumed is not None:  # its finished jobs are skipped, the others run under it again
            client = tracking.client(self.uri)
            client.update_run(resumed, status="RUNNING")
            for tag, value in process_tags().items():  # this process writes it now: not stale while it lives
                client.set_tag(resumed, tag, value)
            client.set_tag(resumed, "memtech.resumed_in", str(sweep_dir))
            self.parent_run_id = resumed
            print(f"memtech: resuming the sweep of parent run {resumed}: jobs already FINISHED are skipped")
        else:
            if config.get("resume") is True:
                print("memtech: resume=true, but no earlier run of this sweep is in the store: starting it afresh")
            self.parent_run_id = tracking.start_parent_run(self.uri, track.experiment, f"{config.get('name')} sweep", tags)
        global _OPEN_PARENT, _SWEEP_ENDED
        _OPEN_PARENT, _SWEEP_ENDED = (self.uri, self.parent_run_id), False
        self._setenv(tracking.PARENT_RUN_ENV, self.parent_run_id)
        client = tracking.client(self.uri)
        client.log_text(self.parent_run_id, "\n".join(overrides) + "\n", "overrides.txt")
        if sweeper_params:
            client.log_dict(self.parent_run_id, sweeper_params, "sweeper_params.json")
        print(f"memtech: sweep recorded under MLflow parent run {self.parent_run_id} in {self.uri}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global _OPEN_PARENT, _SWEEP_ENDED
        _SWEEP_ENDED = True
        close_bar()  # every job's line is out before the table
        state = Path(os.environ.get(SWEEP_STATE_ENV, ""))
        jobs = [json.loads(p.read_text()) for p in sorted(state.glob("job-*.json"))] if state.is_dir() else []
        failed = [j for j in jobs if j["status"] not in ("FINISHED", "SKIPPED")]
        skipped = [j for j in jobs if j["status"] == "SKIPPED"]
        # Hydra turns a callback's exception into a warning, so the exit status is set by
        # memtech.hydra_main.main from this record: kept first, whatever happens below.
        FAILED_JOBS.extend(failed)
        try:
            if self.parent_run_id and self.uri:
                client = tracking.client(self.uri)
                client.set_tag(self.parent_run_id, "memtech.jobs", str(len(jobs)))
                client.set_tag(self.parent_run_id, "memtech.failed_jobs", str(len(failed)))
                client.set_tag(self.parent_run_id, "memtech.skipped_jobs", str(len(skipped)))
                client.set_tag(self.parent_run_id, "memtech.finished_jobs", str(len(jobs) - len(failed) - len(skipped)))
                try:
                    from memtech.compare import compare, format_report

                    report = compare(self.parent_run_id, uri=self.uri, log_to_parent=True)
                    print(format_report(report))
                except MemtechError as exc:
                    print(f"memtech: no comparison: {exc}", file=sys.stderr)
                except Exception as exc:  # noqa: BLE001 - the sweep's runs are recorded; the table is extra
                    print(f"memtech: no comparison ({type(exc).__name__}: {exc})", file=sys.stderr)
                client.set_terminated(self.parent_run_id, "FAILED" if failed else "FINISHED")
                _OPEN_PARENT = None
                counts = f"{len(jobs) - len(skipped) - len(failed)} finished, {len(failed)} failed"
                if skipped:
                    counts += f", {len(skipped)} skipped (already finished: resume=true)"
                print(f"memtech: {len(jobs)} jobs ({counts}) recorded under parent run {self.parent_run_id}; "
                      f"`{command('memtech')} compare {self.parent_run_id}` or `{command('memtech')} ui` to look")
        finally:
            _release_reused_workers()
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._saved_env = {}
        if failed:
            lines = "\n".join(f"  job {j['job']} ({' '.join(j['overrides'])}): {j['error']}" for j in failed)
            print(f"memtech: {len(failed)} of {len(jobs)} sweep jobs failed:\n{lines}", file=sys.stderr)

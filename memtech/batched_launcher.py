"""``hydra/launcher=batched``: a multirun's jobs trained as replicas of a few batched jobs.

Hydra still sees jobs: every job gets its composed config, its output folder (with ``.hydra/``), its callbacks
and its JobReturn, and memtech records every job as its own MLflow child run with the same params, metrics and
artifacts as under the joblib launcher. What changes is how they are run: the jobs are grouped by what the
replicas of one batch must share (:data:`memtech.experiment.SHARED_KEYS`: trainer, data set, device; and the
plugins folder), each group is cut into batches of at most ``max_replicas`` jobs, and each batch trains in one
worker as one batched job (:func:`memtech.experiment.run_batch`). Batches run in parallel over ``n_jobs``
worker processes (:mod:`memtech.workers`: a worker that is killed fails its own batch's jobs, FAILED with the
signal named, and the other batches run to the end). A batch is also the unit a cluster launcher would
submit, one SLURM job per batch.

Each job's result equals the job run alone (bit for bit on the CPU), so the launcher changes the cost of a
sweep, not its results.
"""

from __future__ import annotations

import copy
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobRuntime, JobStatus, _save_config, configure_log, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from memtech.errors import ConfigError
from memtech.hydra_compose import compose_each_job_once
from memtech.workers import TaskFailed, run_tasks, worker_count


@dataclass
class BatchedLauncherConf:
    _target_: str = "hydra_plugins.memtech_batched_launcher.BatchedLauncher"
    n_jobs: int = -1  # worker processes running batches at once; -1: one per core
    max_replicas: int = 64  # jobs trained together in one batch at most


def check_counts(n_jobs: Any, max_replicas: Any = 1) -> None:
    """A launcher's worker and batch counts (joblib's ``n_jobs`` convention; the batched launcher's
    ``max_replicas``); a ConfigError naming the key. Checked by the sweep's callback before its parent run
    exists (joblib itself says only "n_jobs == 0 in Parallel has no meaning") and by the launcher."""
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0):
        raise ConfigError("hydra.launcher.n_jobs", n_jobs,
                          "a non-zero integer: the number of workers (-1: one per core, -2: all cores but one)")
    if isinstance(max_replicas, bool) or not isinstance(max_replicas, int) or max_replicas < 1:
        raise ConfigError("hydra.launcher.max_replicas", max_replicas, "an integer >= 1 (jobs trained as one batch)")


def group_key(config: DictConfig) -> str:
    """The key of what a job's replicas must share; a job whose values cannot be resolved here gets a key of
    its own (it runs alone and reports its own error)."""
    from memtech.experiment import SHARED_KEYS, batch_key

    try:
        shared = {key: OmegaConf.to_container(config[key], resolve=True) if isinstance(config.get(key), DictConfig)
                  else config.get(key) for key in (*SHARED_KEYS, "plugins_dir")}
    except Exception:  # noqa: BLE001 - the job checks its own config when it opens
        return f"unresolvable job {config.hydra.job.num}"
    return batch_key(shared) + repr(shared.get("plugins_dir"))


def plan_batches(keys: Sequence[str], max_replicas: int, workers: int) -> list[list[int]]:
    """Job indices per batch: jobs of one key in batches of at most ``max_replicas``, as even as possible, and
    a large group cut into at least as many batches as there are workers (all cores busy), in a multiple of
    them (no worker left with one batch at the end)."""
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    batches = []
    for jobs in groups.values():
        n = math.ceil(len(jobs) / max_replicas)
        if len(groups) < workers:
            n = min(len(jobs), workers * math.ceil(n / workers))
        size = math.ceil(len(jobs) / n)
        batches.extend(jobs[i:i + size] for i in range(0, len(jobs), size))
    return batches


class BatchedLauncher(Launcher):
    def __init__(self, n_jobs: int = -1, max_replicas: int = 64) -> None:
        check_counts(n_jobs, max_replicas)
        self.n_jobs, self.max_replicas = n_jobs, max_replicas
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.task_function, self.hydra_context = config, task_function, hydra_context
        compose_each_job_once(hydra_context.config_loader)

    def _compose(self, number: int, overrides: Sequence[str]) -> DictConfig:
        """A job's config as Hydra's launchers compose it (its own hydra.job settings included)."""
        assert self.config is not None and self.hydra_context is not None
        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{number}"
            sweep_config.hydra.job.num = number
        return sweep_config

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        configs = [self._compose(initial_job_idx + i, overrides) for i, overrides in enumerate(job_overrides)]
        hydra_config = HydraConfig.instance()
        saved = hydra_config.cfg
        keys = []
        try:
            for config in configs:
                hydra_config.set_config(config)  # for ${hydra:...} in the shared values
                keys.append(group_key(config))
        finally:
            hydra_config.cfg = saved
        workers = worker_count(self.n_jobs)
        batches = plan_batches(keys, self.max_replicas, workers)
        from tqdm import tqdm

        # above the sweep's progress bar where it shows one (a plain print where none does)
        tqdm.write(f"memtech: {len(configs)} jobs in {len(batches)} batch(es) of up to "
                   f"{max(len(b) for b in batches)} replicas, {min(workers, len(batches))} at a time")
        singleton_state = Singleton.get_state()
        tasks = [([configs[i] for i in batch], f"{number + 1} of {len(batches)}")
                 for number, batch in enumerate(batches)]
        if min(workers, len(batches)) == 1:  # no pool to start: run here
            returns = [run_batch_of_jobs(self.hydra_context.callbacks, self.task_function, jobs, name, None)
                       for jobs, name in tasks]
        else:
            # the callbacks only: the config loader holds every composed job (hydra_compose), which the
            # workers do not need
            returns = run_tasks(
                run_batch_of_jobs,
                [(self.hydra_context.callbacks, self.task_function, jobs, name, singleton_state) for jobs, name in tasks],
                min(workers, len(batches)),
                on_lost=lambda index, lost: fail_batch(tasks[index][0], f"WorkerLost: {lost.reason}", lost.pid))
            returns = [fail_batch(jobs, outcome.error, None) if isinstance(outcome, TaskFailed) else outcome
                       for (jobs, _), outcome in zip(tasks, returns)]  # a batch that broke outside its jobs
        by_number = {ret.hydra_cfg.hydra.job.num: ret for batch in returns for ret in batch}
        return [by_number[initial_job_idx + i] for i in range(len(configs))]


def fail_batch(configs: Sequence[DictConfig], error: str, lost_pid: int | None) -> list[JobReturn]:
    """The jobs of a batch that did not come back from its worker (the worker died: ``lost_pid``; or the
    batch raised outside its jobs): each recorded FAILED with the error (the runs a lost worker left RUNNING
    found by its pid), its sweep record written unless the job had finished; the sweep goes on."""
    from memtech import tracking
    from memtech.hydra_main import say_job, write_job_state
    from memtech.liveness import PID_TAG

    runs: dict[str, str] = {}  # job number -> its run left RUNNING by the lost worker
    parent = os.environ.get(tracking.PARENT_RUN_ENV)
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if parent and uri and lost_pid is not None:
        try:
            for run in tracking.child_runs(uri, parent):
                if run.info.status == "RUNNING" and run.data.tags.get(PID_TAG) == str(lost_pid):
                    runs[run.data.tags.get("memtech.job", "")] = run.info.run_id
                    tracking.client(uri).set_tag(run.info.run_id, "memtech.error", error)
                    tracking.client(uri).set_terminated(run.info.run_id, "FAILED")
        except Exception as exc:  # noqa: BLE001 - the sweep goes on; its end marks what is left RUNNING
            print(f"memtech: could not close the runs of the lost worker: {type(exc).__name__}: {exc}", file=sys.stderr)
    hydra_config = HydraConfig.instance()
    saved = hydra_config.cfg
    returns = []
    try:
        for config in configs:
            ret, _, _ = _job_return(config)
            ret.status, ret.return_value = JobStatus.COMPLETED, None
            overrides = list(ret.overrides)
            number = int(config.hydra.job.num)
            if write_job_state(number, "FAILED", runs.get(str(number)), error, overrides, keep_finished=True):
                say_job(f"job {number} FAILED: {error}", error=True)
            returns.append(ret)
    finally:
        hydra_config.cfg = saved
    return returns


def _job_return(config: DictConfig) -> tuple[JobReturn, DictConfig, Path]:
    """What Hydra's ``run_job`` prepares before calling the task: the output folder and its ``.hydra/`` files,
    ``hydra.runtime.output_dir``, the task's config (without ``hydra``). The working directory is not changed
    (memtech's config sets ``hydra.job.chdir: false``)."""
    HydraConfig.instance().set_config(config)
    output_dir = os.path.join(str(OmegaConf.select(config, "hydra.sweep.dir")),
                              str(OmegaConf.select(config, "hydra.sweep.subdir")))
    with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
        config.hydra.runtime.output_dir = os.path.abspath(output_dir)
    HydraConfig.instance().set_config(config)
    task_cfg = copy.deepcopy(config)
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    ret = JobReturn(overrides=OmegaConf.to_container(config.hydra.overrides.task), cfg=task_cfg,
                    hydra_cfg=copy.deepcopy(HydraConfig.instance().cfg), working_dir=os.getcwd())
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    if config.hydra.output_subdir is not None:
        hydra_output = Path(config.hydra.runtime.output_dir) / str(config.hydra.output_subdir)
        _save_config(task_cfg, "config.yaml", hydra_output)
        _save_config(ret.hydra_cfg, "hydra.yaml", hydra_output)
        _save_config(config.hydra.overrides.task, "overrides.yaml", hydra_output)
    return ret, task_cfg, Path(output_dir)


def run_batch_of_jobs(callbacks: Any, task_function: TaskFunction, configs: Sequence[DictConfig],
                      batch_name: str, singleton_state: dict[Any, Any] | None) -> list[JobReturn]:
    """Run one batch: prepare every job as Hydra would, open each (validated, then recorded), train the opened
    ones together, finish each. A job that fails on its own is FAILED alone; the others go on."""
    from memtech.hydra_main import open_job, run_opened_jobs, say_job

    setup_globals()
    if singleton_state is not None:
        Singleton.set_state(singleton_state)
    hydra_config = HydraConfig.instance()
    saved = hydra_config.cfg
    returns, opened, opened_at = [], [], []
    data = None
    try:
        for replica, config in enumerate(configs):
            ret, task_cfg, output_dir = _job_return(config)
            callbacks.on_job_start(config=config, task_function=task_function)
            ret.task_name = JobRuntime.instance().get("name")
            returns.append((ret, config))
            number = int(config.hydra.job.num)
            tags = {"memtech.batch": f"{batch_name}, {len(configs)} replicas", "memtech.batch_replica": str(replica)}
            try:
                job = open_job(task_cfg, multirun=True, overrides=list(ret.overrides), job_num=number,
                               output_dir=output_dir, tags=tags, data=data)
            except Exception as exc:  # recorded FAILED by open_job; reported as the joblib launcher's jobs are
                say_job(f"job {number} FAILED: {type(exc).__name__}: {exc}", error=True)
                ret.status, ret.return_value = JobStatus.COMPLETED, None
                continue
            data = job.data  # the group shares its data set: loaded and checked once
            opened.append(job)
            opened_at.append(len(returns) - 1)
        hydra_config.cfg = saved
        for index, outcome in zip(opened_at, run_opened_jobs(opened)):
            ret = returns[index][0]
            ret.status, ret.return_value = JobStatus.COMPLETED, outcome
        for ret, config in returns:
            callbacks.on_job_end(config=config, job_return=ret)
    finally:
        hydra_config.cfg = saved
    return [ret for ret, _ in returns]

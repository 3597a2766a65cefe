"""Tracking sinks: every run recorded in MLflow with nothing lost, or nowhere (``tracking: none``).

Design requirements:

* The store is ``tracking.uri`` when set, else ``$MLFLOW_TRACKING_URI``, else
  ``sqlite:///<runs>/mlflow.db`` with artifacts in ``<runs>/artifacts`` (:func:`runs_dir` says where
  ``<runs>`` is). A tracking server (``http://...``) works the same way.
* A fresh SQLite store hit by parallel jobs races on schema creation and loses runs, so a sweep creates the
  store, the experiment and the parent run once, before any worker starts (:func:`prepare_store`,
  :func:`start_parent_run`, called by ``memtech.hydra_callbacks``); jobs only ever open an existing store.
* Only :class:`mlflow.MlflowClient` is used, never the fluent ``mlflow.start_run`` state: joblib reuses worker
  processes between jobs and a process-global active run would leak from one job into the next.
* A run that fails is terminated as FAILED with its error as a tag and an artifact; a diverged run is a
  result (``diverged = 1``), not a failure.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from memtech import interrupts
from memtech.errors import ConfigError, MemtechError
from memtech.params import build, knob

RUNS_DIR_ENV = "MEMTECH_RUNS_DIR"
PARENT_RUN_ENV = "MEMTECH_PARENT_RUN_ID"
DEFAULT_EXPERIMENT = "memtech"
PARENT_TAG = "memtech.sweep"  # "parent" on the run that groups a multirun
PARENT_ID_TAG = "mlflow.parentRunId"
EPOCH_FLUSH = 10  # epochs buffered between two log_batch calls: live curves without a call per epoch
_MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
_MAX_BATCH = {"metrics": 1000, "params": 100, "tags": 100}  # MLflow's limits per log_batch call
# MLflow retries an unreachable server 7 times with backoff 2 and waits 120 s per request: a typo in
# tracking.uri then hangs for minutes. Fail within seconds instead; setdefault keeps a user's own choice.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}
# A fresh SQLite store logs its schema creation at INFO: routine, and it drowns the run's own output.
# MLflow's notes on every store setup and every model saved (its input example checked against the signature)
QUIET_LOGGERS = ("mlflow.store.db.utils", "alembic", "alembic.runtime.migration", "mlflow.pyfunc", "mlflow.models")
for _name, _value in HTTP_DEFAULTS.items():
    os.environ.setdefault(_name, _value)


@dataclass(frozen=True)
class TrackingParams:
    backend: str = knob("mlflow", choices=("mlflow", "none"), help="where runs are recorded")
    uri: str | None = knob(None, help="tracking store; default $MLFLOW_TRACKING_URI, else sqlite:///<runs>/mlflow.db")
    experiment: str = knob(DEFAULT_EXPERIMENT, help="MLflow experiment name")
    log_model: bool = knob(True, help="log the trained network as the run's MLflow model (runs:/<id>/model), so `memtech predict RUN_ID` and mlflow.pyfunc.load_model work")


def tracking_params(config: Any) -> TrackingParams:
    """Validate the ``tracking`` node (a mapping, or the string ``none``)."""
    if config is None or config == "none":
        return TrackingParams(backend="none")
    if not isinstance(config, Mapping):
        raise ConfigError("tracking", config, "a mapping (tracking=mlflow or tracking=none)")
    params = build(TrackingParams, config, "tracking")
    if params.uri is not None and not isinstance(params.uri, str):
        raise ConfigError("tracking.uri", params.uri, "a tracking URI string such as sqlite:////abs/path/mlflow.db")
    if not params.experiment:
        raise ConfigError("tracking.experiment", params.experiment, "a non-empty experiment name")
    return params


# --- where things go -----------------------------------------------------------------------------------
def project_root() -> Path | None:
    """The checkout memtech runs from, or None when it is installed (e.g. from a wheel)."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file() and (here / "conf" / "config.yaml").is_file():
        return here
    return None


def runs_dir() -> Path:
    """``$MEMTECH_RUNS_DIR``, else ``runs/`` at the project root of a checkout, else ``./runs``."""
    env = os.environ.get(RUNS_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    root = project_root()
    return (root if root is not None else Path.cwd()) / "runs"


def default_tracking_uri() -> str:
    # Four slashes for an absolute path: sqlite:////abs/runs/mlflow.db
    return "sqlite:///" + (runs_dir() / "mlflow.db").as_posix()


def resolve_uri(uri: str | None = None) -> str:
    """The store to use: ``uri`` if given, else ``$MLFLOW_TRACKING_URI``, else the project's SQLite store."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def _sqlite_path(uri: str) -> Path | None:
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):])
    return None


def _check_sqlite_store(uri: str, path: Path) -> None:
    """A local store that is a folder, cannot be created, or is not an SQLite database is a MemtechError
    naming it, in milliseconds, instead of an SQLAlchemy traceback or MLflow's minutes of connection retries.
    Only reads: a store that is fine is left as it is."""
    import sqlite3

    def refuse(problem: str) -> MemtechError:
        return MemtechError(f"the MLflow store {uri} {problem}; point tracking.uri (memtech-run) or --tracking-uri "
                            "(memtech) at another file, or tracking=none to run without recording")

    if path.is_dir():
        raise refuse("is a folder, not an SQLite file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise refuse(f"cannot be created: {exc.strerror}: {exc.filename}") from None
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise refuse("is not writable")
    if not path.exists():
        return  # MLflow creates the schema on first use
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            connection.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise refuse(f"is not a readable SQLite database ({exc}); nothing was changed in it") from None


def store_exists(uri: str) -> bool:
    """False only for a local SQLite store whose file is missing: reading it would create an empty one."""
    path = _sqlite_path(uri)
    return path is None or path.is_file()


def artifact_location(uri: str, experiment: str) -> str | None:
    """Artifacts beside a local SQLite store; a server chooses its own."""
    path = _sqlite_path(uri)
    if path is None:
        return None
    return (path.parent / "artifacts" / experiment).resolve().as_uri()


def _quiet_store_setup() -> None:
    # after importing mlflow, whose own logging setup would otherwise reset these levels
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


class SignalSafeClient:
    """An MlflowClient whose calls Ctrl-C or SIGTERM cannot cut in half (see :mod:`memtech.interrupts`): a
    signal that arrives during a call is raised when the call returns."""

    def __init__(self, inner: Any):
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            with interrupts.signal_safe():
                return attribute(*args, **kwargs)

        return call


_CLIENTS: dict[str, SignalSafeClient] = {}  # one client per store and process (a batched worker logs many runs)
_EXPERIMENT_IDS: dict[tuple[str, str], str] = {}


def client(uri: str) -> Any:
    from mlflow import MlflowClient

    if uri not in _CLIENTS:
        _quiet_store_setup()
        path = _sqlite_path(uri)
        if path is None:
            mlflow_client = SignalSafeClient(MlflowClient(tracking_uri=uri))
        else:
            _check_sqlite_store(uri, path)
            with _store_lock(path):
                # MLflow creates or migrates the schema when it opens the store: one process at a time, or a
                # second sweep started together with the first finds half a schema and refuses the store
                mlflow_client = SignalSafeClient(MlflowClient(tracking_uri=uri))
                mlflow_client.search_experiments(max_results=1)
        _CLIENTS[uri] = mlflow_client
    return _CLIENTS[uri]


@contextlib.contextmanager
def _store_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``<store>.lock`` beside a local SQLite store, held while the store is opened
    for the first time in a process (released when the process dies, however it dies)."""
    import fcntl

    with open(path.with_name(path.name + ".lock"), "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def prepare_store(uri: str, experiment: str) -> str:
    """Create the store (schema) and the experiment if needed; return the experiment id (looked up once per
    process and store)."""
    key = (uri, experiment)
    if key not in _EXPERIMENT_IDS:
        _EXPERIMENT_IDS[key] = _experiment_id(client(uri), uri, experiment)
        _close_stale_runs(uri, _EXPERIMENT_IDS[key])
    return _EXPERIMENT_IDS[key]


def _close_stale_runs(uri: str, experiment_id: str) -> None:
    """Runs left RUNNING by a killed process of this host are marked KILLED when a process first opens the
    experiment (see memtech.liveness); a store that refuses must not stop the run that is starting."""
    from memtech.liveness import close_stale_runs

    try:
        closed = close_stale_runs(client(uri), [experiment_id])
    except Exception as exc:  # noqa: BLE001
        print(f"memtech: could not check the store for runs of killed processes: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return
    if closed:
        print(f"memtech: marked {len(closed)} run(s) KILLED whose process on this host is gone: "
              + ", ".join(run.info.run_id[:8] for run in closed), file=sys.stderr)


# MLflow 3's UI shows an experiment by its kind: without it, it guesses and may open GenAI pages (traces,
# tokens) for an experiment of training runs
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


def _experiment_id(mlflow_client: Any, uri: str, experiment: str) -> str:
    found = mlflow_client.get_experiment_by_name(experiment)
    if found is not None:
        if found.tags.get(EXPERIMENT_KIND_TAG) is None:  # made before memtech tagged its experiments
            mlflow_client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return found.experiment_id
    try:
        return mlflow_client.create_experiment(experiment, artifact_location=artifact_location(uri, experiment),
                                               tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    except Exception:  # noqa: BLE001 - another process created it first: use theirs
        found = mlflow_client.get_experiment_by_name(experiment)
        if found is None:
            raise
        return found.experiment_id


# --- what is logged ------------------------------------------------------------------------------------
def flatten(config: Any, prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}, "l": [{"x": 2}]}`` -> ``{"a.b": "1", "l.0.x": "2"}``; lists of scalars stay whole."""
    out: dict[str, str] = {}
    if isinstance(config, Mapping):
        for key, value in config.items():
            out.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(config, (list, tuple)) and any(isinstance(v, (Mapping, list, tuple)) for v in config):
        for i, value in enumerate(config):
            out.update(flatten(value, f"{prefix}{i}."))
    else:
        text = json.dumps(config) if isinstance(config, (list, tuple)) else ("null" if config is None else str(config))
        out[prefix[:-1]] = text[:_MAX_PARAM_CHARS]
    return out


def git_commit() -> str | None:
    root = project_root()
    if root is None or not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def is_all_sram(config: Mapping[str, Any]) -> bool:
    """True when every memory the schedule places a tensor in is SRAM at BER 0: the error-free baseline."""
    memories = config.get("memories") or {}
    used = set()
    for phase in (config.get("schedule") or {}).get("phases") or []:
        placement = dict(phase.get("placement") or {})
        used.update(placement.pop("layers", None) or {})  # a per-layer placement: {memory: [layer indices]}
        used.update(placement.values())
    return bool(used) and all(
        (memories.get(m) or {}).get("technology") == "sram" and not float((memories.get(m) or {}).get("ber") or 0.0)
        for m in used
    )


ALL_SRAM_TAG, BASELINE_KEY_TAG = "memtech.all_sram", "memtech.baseline_key"


def all_sram_runs(uri: str, experiment_ids: list[str], max_results: int = 1000) -> list[Any]:
    """Finished all-SRAM runs (candidate baselines) of these experiments, latest first."""
    if not experiment_ids:
        return []
    return client(uri).search_runs(
        experiment_ids,
        filter_string=f"tags.`{ALL_SRAM_TAG}` = 'true' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=max_results,
    )


def experiment_ids(uri: str, experiment: str) -> list[str]:
    found = client(uri).get_experiment_by_name(experiment)
    return [] if found is None else [found.experiment_id]


def baseline_key(config: Mapping[str, Any]) -> str:
    """Runs with the same key train the same network on the same data: their energies compare."""
    return json.dumps({k: config.get(k) for k in ("trainer", "dataset", "seed", "processor")}, sort_keys=True, default=str)


def run_tags(config: Mapping[str, Any], plugins: Mapping[str, str] | None = None, overrides: Iterable[str] = ()) -> dict[str, str]:
    from memtech import __version__

    tags = {
        "memtech.version": __version__,
        ALL_SRAM_TAG: str(is_all_sram(config)).lower(),
        BASELINE_KEY_TAG: baseline_key(config)[:_MAX_PARAM_CHARS],
        "memtech.overrides": " ".join(overrides)[:_MAX_PARAM_CHARS],
    }
    for component, version in (plugins or {}).items():
        tags[f"memtech.plugin.{component}"] = version
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


@functools.lru_cache(maxsize=1)
def standard_tags() -> dict[str, str]:
    """MLflow's own run context, as its fluent API would set it: ``mlflow.user``, ``mlflow.source.name`` (the
    command), ``mlflow.source.type`` and, in a git checkout, ``mlflow.source.git.commit``."""
    from mlflow.tracking.context.registry import resolve_tags

    return {key: str(value) for key, value in resolve_tags({}).items()}


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


MODEL_NAME = "model"  # the name of a run's logged model: runs:/<run id>/model
# the inputs of the data set last logged, with that data set: the jobs of a batch share one loaded data set,
# whose digests (a hash of its arrays) are computed once, not once per job
_LAST_INPUTS: tuple[Any, str, str, list[Any]] | None = None


def dataset_inputs(data: Any, name: str, source: str) -> list[Any]:
    """MLflow's DatasetInput of ``data``'s training and test splits, tagged by MLflow's data context."""
    global _LAST_INPUTS
    if _LAST_INPUTS is not None and _LAST_INPUTS[0] is data and _LAST_INPUTS[1:3] == (name, source):
        return _LAST_INPUTS[3]
    import warnings

    import mlflow.data
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.entities import DatasetInput, InputTag

    is_file = Path(source).exists()
    inputs = []
    for context, x, y in (("training", data.x_train, data.y_train), ("evaluation", data.x_test, data.y_test)):
        origin: Any = source if is_file else CodeDatasetSource(tags={"memtech.dataset_source": source})
        with warnings.catch_warnings():  # MLflow registers its local-file source twice, and says so
            warnings.filterwarnings("ignore", message=".*can be interpreted in multiple ways")
            dataset = mlflow.data.from_numpy(x, targets=y, source=origin, name=name)
        inputs.append(DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", context)]))
    _LAST_INPUTS = (data, name, source, inputs)
    return inputs


class MlflowRun:
    """One MLflow run, driven by ``memtech-run``: params at start, epochs in batches, results at the end."""

    def __init__(self, uri: str, experiment: str, run_name: str, tags: Mapping[str, str], parent_run_id: str | None = None):
        from mlflow.entities import RunTag

        self.uri = uri
        self.client = client(uri)
        experiment_id = prepare_store(uri, experiment)
        from memtech.liveness import process_tags

        tags = {**standard_tags(), **process_tags(), **tags}  # host and pid: a run whose process dies is closed later
        if parent_run_id:
            tags[PARENT_ID_TAG] = parent_run_id
        self.run = self.client.create_run(experiment_id, run_name=run_name, tags=tags)
        self.run_id: str = self.run.info.run_id
        self._pending: list[Any] = []
        self._RunTag = RunTag
        # epochs buffered between two log_batch calls (live curves in the UI); None: all sent at the end
        self.flush_every: int | None = EPOCH_FLUSH

    # -- during the run
    def log_params(self, config: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        params = [Param(k, v) for k, v in sorted(flatten(config).items())]
        for chunk in _chunks(params, _MAX_BATCH["params"]):
            self.client.log_batch(self.run_id, params=chunk)

    def log_dataset(self, data: Any, name: str, source: str) -> None:
        """The data set as MLflow inputs (name, digest, source, shapes; the training and the test split), so
        the runs table's Dataset column shows what each run trained on."""
        self.client.log_inputs(self.run_id, datasets=dataset_inputs(data, name, source))

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def log_files(self, files: Mapping[str, str | bytes | Path]) -> None:
        """Log several artifacts in one call: {artifact path: text, bytes, or a file to copy}. Each artifact
        call costs a store query and a copy, so a run's artifacts go in two calls (at its start and its end)."""
        import shutil

        with tempfile.TemporaryDirectory() as tmp:
            for name, content in files.items():
                target = Path(tmp) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, Path):
                    shutil.copyfile(content, target)
                elif isinstance(content, bytes):
                    target.write_bytes(content)
                else:
                    target.write_text(content)
            self.client.log_artifacts(self.run_id, tmp)

    def log_epoch(self, record: Any) -> None:
        from mlflow.entities import Metric

        now_ms = int(time.time() * 1000)
        for key in ("train_loss", "test_loss", "test_accuracy", "energy_j", "sim_time_s"):
            self._pending.append(Metric(f"epoch.{key}", float(getattr(record, key)), now_ms, record.epoch))
        if self.flush_every and record.epoch % self.flush_every == 0:
            self.flush()

    def flush(self) -> None:
        for chunk in _chunks(self._pending, _MAX_BATCH["metrics"]):
            self.client.log_batch(self.run_id, metrics=chunk)
        self._pending = []

    # -- at the end
    def finish(self, result: Any, output_dir: Path | None, log_model: bool = True,
               input_example: Any = None) -> None:
        """Log the results and close the run FINISHED. With ``log_model``, the trained network is logged as
        the MLflow model ``model`` (memtech.mlflow_model), ``input_example`` a few rows of its data."""
        from mlflow.entities import Metric

        now_ms = int(time.time() * 1000)
        # the epochs still buffered, the final metrics and the tags: one log_batch where MLflow's limits allow
        metrics = self._pending + [Metric(k, float(v), now_ms, result.iterations)
                                   for k, v in sorted(result.metrics().items())]
        self._pending = []
        tags = [self._RunTag("memtech.diverged", str(result.diverged).lower())]
        tags += [self._RunTag(f"memtech.plugin.{c}", v) for c, v in result.plugins.items()]
        metric_chunks = list(_chunks(metrics, _MAX_BATCH["metrics"])) or [[]]
        tag_chunks = list(_chunks(tags, _MAX_BATCH["tags"]))
        for n in range(max(len(metric_chunks), len(tag_chunks))):
            self.client.log_batch(self.run_id, metrics=metric_chunks[n] if n < len(metric_chunks) else [],
                                  tags=tag_chunks[n] if n < len(tag_chunks) else [])
        files: dict[str, str | bytes | Path] = {
            "memory_cards.json": json.dumps(result.memory_cards, indent=2),
            "accounting.json": json.dumps([row.__dict__ for row in result.accounting], indent=2),
        }
        with tempfile.TemporaryDirectory() as tmp:
            if log_model:
                from memtech import mlflow_model

                folder = result.save(Path(tmp) / "saved") if output_dir is None else Path(output_dir)
                n_features = int(result.model["n_features"])
                example = input_example if input_example is not None else [[0.0] * n_features]
                pyfunc = mlflow_model.save(Path(tmp) / "model", folder / "model.npz", n_features, example[:5])
                self.log_logged_model(pyfunc)
                if (folder / "result.json").is_file():
                    files["result.json"] = folder / "result.json"
            self.log_files(files)  # one artifact call for all of them
        self.client.set_terminated(self.run_id, "FINISHED")

    def log_logged_model(self, folder: Path) -> str:
        """Log an MLflow model folder as the run's model ``model`` (an MLflow 3 logged model: the runs table's
        Models column, ``runs:/<id>/model`` and ``models:/<model id>`` find it); returns its model id."""
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus

        experiment_id = self.client.get_run(self.run_id).info.experiment_id
        model = self.client.create_logged_model(experiment_id, name=MODEL_NAME, source_run_id=self.run_id,
                                                model_type="memtech")
        self.client.log_model_artifacts(model.model_id, str(folder))
        self.client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
        self.client.log_outputs(self.run_id, [LoggedModelOutput(model.model_id, 0)])
        return model.model_id

    def fail(self, exc: BaseException) -> None:
        """Mark the run FAILED with its error (KILLED when interrupted: Ctrl-C, SIGTERM); never raises (the error
        being reported matters more)."""
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        status = "KILLED" if isinstance(exc, (KeyboardInterrupt, SystemExit)) else "FAILED"
        steps = (
            self.flush,
            lambda: self.client.set_tag(self.run_id, "memtech.error", f"{type(exc).__name__}: {exc}"[:_MAX_PARAM_CHARS]),
            lambda: self.client.log_text(self.run_id, text, "error.txt"),
            lambda: self.client.set_terminated(self.run_id, status),
        )
        for step in steps:  # each on its own: a locked store must not hide the job's own error
            try:
                step()
            except Exception:  # noqa: BLE001
                pass


def start_parent_run(uri: str, experiment: str, run_name: str, tags: Mapping[str, str]) -> str:
    """Create the parent run of a multirun (store and experiment first); return its id."""
    experiment_id = prepare_store(uri, experiment)
    from memtech.liveness import process_tags

    run = client(uri).create_run(experiment_id, run_name=run_name,
                                 tags={PARENT_TAG: "parent", **standard_tags(), **process_tags(), **tags})
    return run.info.run_id


def child_runs(uri: str, parent_run_id: str) -> list[Any]:
    mlflow_client = client(uri)
    parent = mlflow_client.get_run(parent_run_id)
    return mlflow_client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`{PARENT_ID_TAG}` = '{parent_run_id}'", max_results=50000
    )


def find_baseline(uri: str, experiment: str, config: Mapping[str, Any], exclude_run_id: str | None = None) -> dict[str, float] | None:
    """Final metrics of the latest finished all-SRAM run of the same network and data, if the store has one."""
    key = baseline_key(config)[:_MAX_PARAM_CHARS]
    for run in all_sram_runs(uri, experiment_ids(uri, experiment), max_results=200):
        if run.info.run_id != exclude_run_id and run.data.tags.get(BASELINE_KEY_TAG) == key:
            return dict(run.data.metrics, run_id=run.info.run_id)  # type: ignore[arg-type]
    return None


def logged_model(uri: str, run_id: str) -> str:
    """How the run's model was logged: "mlflow" (an MLflow logged model, ``runs:/<id>/model``) or "npz" (the bare
    model.npz of runs recorded before); a ConfigError naming ``model`` for a parent run or a run without one."""
    mlflow_client = client(uri)
    try:
        run = mlflow_client.get_run(run_id)
    except Exception as exc:  # noqa: BLE001 - MLflow raises its own types
        raise ConfigError("model", run_id, f"a run folder, a model.npz or the id of a run in {uri}") from exc
    if run.data.tags.get(PARENT_TAG) == "parent":
        children = child_runs(uri, run_id)
        example = f", e.g. {children[0].info.run_id[:8]}" if children else ""
        raise ConfigError("model", run_id, f"a run that trained a model; this is a sweep's parent run: give one of "
                          f"its {len(children)} job runs{example} (`memtech compare {run_id[:8]}` lists them)")
    if run.outputs is not None and run.outputs.model_outputs:  # a logged model: what memtech logs
        return "mlflow"
    # the bare model.npz of runs recorded before models were logged as MLflow's
    has_model = {a.path for a in mlflow_client.list_artifacts(run_id, "model")} & {"model/model.npz"}
    if not has_model:
        raise ConfigError("model", run_id, f"a run logged with its model; run {run_id[:8]} ({run.info.status}) has no "
                          "model artifact (a failed run, or tracking.log_model=false)")
    return "npz"


def download_model(uri: str, run_id: str, destination: Path) -> Path:
    """Fetch a run's ``model/`` artifacts into ``destination`` (checked first, as :func:`logged_model`)."""
    logged_model(uri, run_id)
    return Path(client(uri).download_artifacts(run_id, "model", str(destination)))


RUN_ID_CHARS = 32
MIN_RUN_ID_PREFIX = 6  # shorter prefixes collide too easily in a store of a few thousand runs
_HEX = frozenset("0123456789abcdef")


def looks_like_run_id(text: str) -> bool:
    """A full run id, or a prefix long enough to name one (the tables show 8 characters)."""
    return MIN_RUN_ID_PREFIX <= len(text) <= RUN_ID_CHARS and set(text) <= _HEX


class AmbiguousRunId(ConfigError):
    """A run id prefix that several runs share: guessing one would mislead."""


def resolve_run_id(uri: str, prefix: str, key: str = "run") -> str:
    """The full id of the one run in the store whose id starts with ``prefix`` (any experiment, deleted
    ones included); a ConfigError naming ``key`` when none or several match."""
    from mlflow.entities import ViewType

    if not looks_like_run_id(prefix):
        raise ConfigError(key, prefix, f"a run id of {RUN_ID_CHARS} hex digits or a prefix of at least {MIN_RUN_ID_PREFIX}")
    if not store_exists(uri):
        raise ConfigError(key, prefix, f"the id (or a unique prefix) of a run in {uri}, which holds no store yet")
    mlflow_client = client(uri)
    experiments = [e.experiment_id for e in mlflow_client.search_experiments(view_type=ViewType.ALL)]
    matches: list[str] = []
    for start in range(0, len(experiments), 100):  # search_runs takes at most 100 experiments a call
        runs = mlflow_client.search_runs(experiments[start:start + 100], f"attributes.run_id LIKE '{prefix}%'",
                                         run_view_type=ViewType.ALL, max_results=10)
        matches += [r.info.run_id for r in runs]
    if not matches:
        raise ConfigError(key, prefix, f"the id (or a unique prefix) of a run in {uri}")
    if len(matches) > 1:
        raise AmbiguousRunId(key, prefix, f"a prefix that matches one run in {uri}, not several ({', '.join(sorted(matches))})")
    return matches[0]

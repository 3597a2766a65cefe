"""``memtech`` command: inspect plugins and memories, compare runs, open the UI, score new data.

Each subcommand parses its arguments and delegates; the work lives in the modules it calls.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import json
import sys
from typing import Sequence

from memtech import __version__
from memtech.errors import ConfigError, MemtechError


def _cmd_plugins(args: argparse.Namespace) -> int:
    from memtech.plugins import load_plugins, problems

    registry = load_plugins(plugin_dirs=args.plugins_dir or ())  # strict with --strict-plugins (the environment)
    rows = [(info.kind, info.name, info.source, info.version, info.plugin) for info in registry.all()]
    if args.json:
        print(json.dumps([dict(zip(("kind", "name", "source", "version", "plugin"), r)) for r in rows], indent=2))
    else:
        widths = [max(len(str(r[i])) for r in rows + [("KIND", "NAME", "SOURCE", "VERSION", "PLUGIN")]) for i in range(5)]
        for row in [("KIND", "NAME", "SOURCE", "VERSION", "PLUGIN"), *rows]:
            print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    for problem in problems(registry):
        print(problem, file=sys.stderr)
    return 1 if problems(registry) else 0


def _cmd_describe(args: argparse.Namespace) -> int:
    from memtech.describe import describe_memory, format_card, reference_defaults

    if args.reference:
        print(reference_defaults(), end="")
        return 0
    if args.memory is None:
        raise ConfigError("memory", None, "a technology name (e.g. stt_mram) or a conf/memory preset, or --reference")
    card = describe_memory(args.memory, args.overrides)
    print(json.dumps(card, indent=2, default=str) if args.json else format_card(card))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from memtech import tracking
    from memtech.predict import StoredModel, load_data

    x, y = load_data(args.data)  # before the model: a wrong data path should not cost a download
    model_path = Path(args.model)
    if not model_path.exists() and tracking.looks_like_run_id(args.model):
        uri = tracking.resolve_uri(args.tracking_uri)
        model = StoredModel.from_run(uri, tracking.resolve_run_id(uri, args.model, key="model"))
    else:
        model = StoredModel.load(model_path)
    predictions = model.predict(x)
    if args.output:
        np.save(args.output, predictions)
        print(f"wrote {len(predictions)} predictions to {args.output}")
    if y is not None:
        print(f"accuracy {model.accuracy(x, y):.4f} on {len(y)} samples")
    elif not args.output:
        print(" ".join(str(int(p)) for p in predictions))
    return 0


def _cmd_threshold(args: argparse.Namespace) -> int:
    from memtech import tracking
    from memtech.threshold import Criterion, find_threshold, parse_range

    uri = None if args.no_track else tracking.resolve_uri(args.tracking_uri)
    search = find_threshold(args.knob, parse_range(args.range), args.overrides,
                            Criterion(seeds=args.seeds, delta=args.delta), resolution=args.resolution, uri=uri,
                            output=Path(args.output) if args.output else None)
    if search.parent_run_id:
        print(f"recorded as MLflow parent run {search.parent_run_id} in {uri} (one child run per probe)")
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from memtech import tracking
    from memtech.search import search

    uri = None if args.no_track else tracking.resolve_uri(args.tracking_uri)
    result = search(args.overrides, trials=args.trials, seeds=args.seeds, delta=args.delta, knob=args.knob,
                    seed=args.seed, uri=uri)
    if result.parent_run_id:
        print(f"recorded as MLflow parent run {result.parent_run_id} in {uri} (one child run per trial)")
    return 0 if result.best is not None else 1


def _cmd_close_stale(args: argparse.Namespace) -> int:
    from mlflow.entities import ViewType

    from memtech import tracking
    from memtech.liveness import close_stale_runs, stale_runs

    uri = tracking.resolve_uri(args.tracking_uri)
    if not tracking.store_exists(uri):
        raise ConfigError("--tracking-uri", uri, "an existing MLflow store")
    client = tracking.client(uri)
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    runs = stale_runs(client, experiments) if args.dry_run else close_stale_runs(client, experiments)
    for run in runs:
        print(f"{run.info.run_id}  {run.info.run_name}  pid {run.data.tags.get('memtech.pid')}")
    verb = "would be marked" if args.dry_run else "marked"
    print(f"{len(runs)} run(s) whose process on this host is gone {verb} KILLED")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from memtech.compare import compare, format_report

    image_format = args.format or (Path(args.output).suffix.lstrip(".") if args.output else "") or "png"
    report = compare(args.target, uri=args.tracking_uri, output=args.output, log_to_parent=not args.no_log,
                     baselines=args.baseline or (), image_format=image_format, dpi=args.dpi)
    print(format_report(report))
    return 0


UI_JOBS_ENV = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"


LOCAL_HOST = "127.0.0.1"


def ui_command(uri: str, port: int, host: str = LOCAL_HOST) -> list[str]:
    """The MLflow UI on the project's store; on 127.0.0.1 it is reachable from this machine only."""
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]


def exposure_warning(host: str) -> str | None:
    """What a user must know before the UI listens beyond this machine, or None on a loopback address."""
    import ipaddress

    try:
        if host == "localhost" or ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name: it may resolve to any interface
    return (f"memtech: warning: the MLflow UI will listen on {host}: anyone who can reach this machine there can "
            "read, edit and delete every run in the store; it has no authentication. Leave out --host to keep it "
            "on 127.0.0.1.")


def listen_address(host: str, port: int) -> tuple:
    """The socket family and address ``host:port`` names; a ConfigError naming --host if it names none."""
    import socket

    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError("--host", host, f"an address or host name of this machine ({exc})") from None
    return family, address


def port_is_free(port: int, host: str = LOCAL_HOST) -> bool:
    """Whether a server could bind ``host:port`` now (the UI would otherwise log the clash and exit 0); an
    address that is not this machine's is a ConfigError naming --host."""
    import errno
    import socket

    family, address = listen_address(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise ConfigError("--host", host, f"an address of this machine ({exc.strerror})") from None
    return True


def experiment_page(uri: str, experiment: str) -> str | None:
    """The UI's address of an experiment's runs table (``#/experiments/<id>/runs``), the experiment tagged as
    one of model training first; None where the store or the experiment does not exist yet."""
    from memtech import tracking

    if not tracking.store_exists(uri):
        return None
    ids = tracking.experiment_ids(uri, experiment)
    if not ids:
        return None
    tracking.prepare_store(uri, experiment)  # tags an experiment made before memtech set its kind
    return f"#/experiments/{ids[0]}/runs"


def _cmd_ui(args: argparse.Namespace) -> int:
    import os

    from memtech import tracking

    if not 0 < args.port < 65536:
        raise ConfigError("--port", args.port, "a TCP port from 1 to 65535")
    uri = tracking.resolve_uri(args.tracking_uri)
    listen_address(args.host, args.port)  # a host that names nothing fails here, before anything is printed
    if not args.print_command and not port_is_free(args.port, args.host):
        raise ConfigError("--port", args.port, f"a free port on {args.host} (another server uses it: stop it or "
                          "pick another with --port)")
    warning = exposure_warning(args.host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    command = ui_command(uri, args.port, args.host)
    if args.print_command:
        print(" ".join(command))
        return 0
    address = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    print(f"MLflow UI for {uri} at {address} (Ctrl-C to stop)", flush=True)
    runs_page = experiment_page(uri, args.experiment)
    if runs_page:  # MLflow's own landing page is an overview: go straight to the training runs
        print(f"memtech's runs: {address}/{runs_page}", flush=True)
    sys.stderr.flush()
    # MLflow's job runner (huey consumers, for its GenAI jobs; memtech has none) outlives the server when
    # it is stopped: leave it off unless the user turns it on.
    os.environ.setdefault(UI_JOBS_ENV, "false")
    # Replace this process: Ctrl-C and kill then reach MLflow (and its workers) directly, and MLflow's
    # exit status is the command's.
    os.execv(command[0], command)
    return 1  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memtech", description=__doc__.splitlines()[0])
    from memtech.storage import write_path

    parser.add_argument("--version", action="version", version=f"memtech {__version__} (fault engine: {write_path()})")
    parser.add_argument("--strict-plugins", action="store_true",
                        help="a plugin that fails to load, or a name two plugins claim, is an error (also "
                             "MEMTECH_STRICT_PLUGINS=1)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plugins", help="list installed memory, trainer and dataset plugins")
    p.add_argument("--plugins-dir", action="append", help="also load every *.py in this folder as a plugin")
    p.add_argument("--json", action="store_true", help="print the plugins as a JSON list instead of a table")
    p.set_defaults(func=_cmd_plugins)

    p = sub.add_parser("describe", help="model card of a memory technology: parameters, units, sources, derived figures")
    p.add_argument("memory", nargs="?", help="technology name (e.g. stt_mram) or a conf/memory preset name")
    p.add_argument("overrides", nargs="*", help="key=value settings, e.g. ber=1e-4")
    p.add_argument("--json", action="store_true", help="print the card as JSON instead of text")
    p.add_argument("--reference", action="store_true",
                   help="print every default of the built-in memories as a Markdown table (plugins/technology-reference.md §9)")
    p.set_defaults(func=_cmd_describe)

    p = sub.add_parser("compare", help="table and Pareto plot of accuracy vs energy for a sweep or an experiment")
    p.add_argument("target", nargs="?", help="a parent run id or a unique prefix of one (a sweep), or an experiment "
                                             "name; default: the latest sweep")
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI, else runs/mlflow.db)")
    p.add_argument("--output", help="where to write the figure (default: runs/compare/<target>.<format>)")
    p.add_argument("--format", choices=("png", "pdf", "svg"),
                   help="the figure's file format (default: the --output suffix, else png)")
    p.add_argument("--dpi", type=int, default=150, help="resolution of a png figure (default: 150)")
    p.add_argument("--no-log", action="store_true", help="do not log the figure and the per-point statistics to "
                                                         "the parent run")
    p.add_argument("--baseline", action="append", metavar="[NAME=]RUN_ID|[NAME=]KEY=VALUE[,KEY=VALUE...]",
                   help="also measure energy and accuracy against this run (repeatable): a run id, a run id prefix, "
                        "or params that pick one compared run, e.g. std=memories.mram.thermal_stability=60,"
                        "memories.mram.write_pulse_ns=20; the all-SRAM baseline is found by itself")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("threshold", help="find the threshold for convergence of a monotone knob (bisection on a log "
                                         "scale, each probe's seeds trained as one batched job)")
    p.add_argument("knob", help="the config key to search, e.g. memories.mram.ber or memories.mram.write_pulse_ns")
    p.add_argument("overrides", nargs="*", help="memtech-run overrides of the base config, e.g. trainer.epochs=5")
    p.add_argument("--range", required=True, help="A,B: two values of the knob on either side of the threshold")
    p.add_argument("--seeds", type=int, default=5, help="seeds per probe (default 5); all must converge")
    p.add_argument("--delta", type=float, default=0.01,
                   help="accuracy below the all-SRAM baseline's mean still within the criterion (default 0.01: 1 point)")
    p.add_argument("--resolution", type=float, default=2.0, help="stop when the bracket's ends are within this factor (default 2)")
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI, else runs/mlflow.db)")
    p.add_argument("--no-track", action="store_true", help="record nothing in MLflow")
    p.add_argument("--output", help="the figure's file (default: runs/threshold/<knob>-<parent run id>.png)")
    p.set_defaults(func=_cmd_threshold)

    p = sub.add_parser("search", help="the energy-optimal MRAM-then-SRAM schedule under an accuracy constraint "
                                      "(Optuna over first-phase share, write pulse or BER, and protection)")
    p.add_argument("overrides", nargs="*", help="memtech-run overrides of the base config, e.g. trainer.epochs=5")
    p.add_argument("--trials", type=int, default=30, help="Optuna trials (default 30)")
    p.add_argument("--seeds", type=int, default=5, help="seeds per trial (default 5); all must converge")
    p.add_argument("--delta", type=float, default=0.01,
                   help="accuracy below the all-SRAM baseline's mean still feasible (default 0.01: 1 point)")
    p.add_argument("--knob", default="pulse", help="pulse: search the MRAM write pulse (4-20 ns); ber: the BER (1e-9-1e-2)")
    p.add_argument("--seed", type=int, default=0, help="the sampler's seed: the same seed gives the same search")
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI, else runs/mlflow.db)")
    p.add_argument("--no-track", action="store_true", help="record nothing in MLflow")
    p.set_defaults(func=_cmd_search)

    p = sub.add_parser("close-stale", help="mark KILLED the RUNNING runs whose process on this host is gone "
                                           "(kill -9, out of memory); memtech-run does it when it opens a store")
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI, else runs/mlflow.db)")
    p.add_argument("--dry-run", action="store_true", help="list them without changing anything")
    p.set_defaults(func=_cmd_close_stale)

    p = sub.add_parser("ui", help="start the MLflow UI on the project's store, bound to 127.0.0.1")
    p.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI, else runs/mlflow.db)")
    p.add_argument("--port", type=int, default=5000, help="port to listen on (default: 5000)")
    p.add_argument("--host", default=LOCAL_HOST, help="address to listen on (default: 127.0.0.1, this machine only; "
                   "any other address lets others on the network read and change the store, and prints a warning)")
    p.add_argument("--experiment", default="memtech", help="the experiment whose runs page to print (default: memtech)")
    p.add_argument("--print-command", action="store_true", help="print the command instead of running it")
    p.set_defaults(func=_cmd_ui)

    p = sub.add_parser("predict", help="score new data with a run's stored weights")
    p.add_argument("model", help="a run's output folder, a model.npz, or an MLflow run id or unique prefix (>= 6 hex)")
    p.add_argument("--tracking-uri", help="MLflow store holding the run (default: $MLFLOW_TRACKING_URI, else runs/mlflow.db)")
    p.add_argument("data", help=".npz with 'x' (and optionally 'y')")
    p.add_argument("--output", help="save the predicted classes to this .npy file")
    p.set_defaults(func=_cmd_predict)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.strict_plugins:
        import os

        from memtech.plugins import STRICT_ENV

        os.environ[STRICT_ENV] = "1"  # read wherever this command loads the plugins
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return code
    except MemtechError as exc:
        print(f"memtech: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader (`| head`) has what it wanted. Point stdout at devnull so Python's final flush
        # does not raise again, and exit as a process killed by SIGPIPE would (128 + 13).
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:
        # an unreachable server or a store MLflow cannot read: its own message says which, a traceback adds nothing
        if not type(exc).__module__.startswith("mlflow."):
            raise
        print(f"memtech: error: MLflow: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

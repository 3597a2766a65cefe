"""``memtech`` command: inspect plugins and memories, compare runs, open the UI, score new data.

Each subcommand parses its arguments and delegates; the work lives in the modules it calls.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from memtech import __version__
from memtech.errors import MemtechError


def _cmd_plugins(args: argparse.Namespace) -> int:
    from memtech.plugins import load_plugins

    registry = load_plugins(plugin_dirs=args.plugins_dir or ())
    rows = [(info.kind, info.name, info.source, info.version, info.plugin) for info in registry.all()]
    if args.json:
        print(json.dumps([dict(zip(("kind", "name", "source", "version", "plugin"), r)) for r in rows], indent=2))
    else:
        widths = [max(len(str(r[i])) for r in rows + [("KIND", "NAME", "SOURCE", "VERSION", "PLUGIN")]) for i in range(5)]
        for row in [("KIND", "NAME", "SOURCE", "VERSION", "PLUGIN"), *rows]:
            print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    for failure in registry.failures:
        print(str(failure), file=sys.stderr)
    return 1 if registry.failures else 0


def _cmd_describe(args: argparse.Namespace) -> int:
    from memtech.describe import describe_memory, format_card

    card = describe_memory(args.memory, args.overrides)
    print(json.dumps(card, indent=2, default=str) if args.json else format_card(card))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from memtech.predict import StoredModel

    model = StoredModel.load(args.model)
    with np.load(args.data, allow_pickle=False) as f:
        arrays = dict(f)
    x = arrays.get("x", arrays.get("x_test"))
    y = arrays.get("y", arrays.get("y_test"))
    if x is None:
        raise MemtechError(f"data must hold an array 'x' (or 'x_test'), got arrays {sorted(arrays)}")
    predictions = model.predict(x)
    if args.output:
        np.save(args.output, predictions)
        print(f"wrote {len(predictions)} predictions to {args.output}")
    if y is not None:
        print(f"accuracy {model.accuracy(x, y):.4f} on {len(y)} samples")
    elif not args.output:
        print(" ".join(str(int(p)) for p in predictions))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memtech", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"memtech {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plugins", help="list installed memory, trainer and dataset plugins")
    p.add_argument("--plugins-dir", action="append", help="also load every *.py in this folder as a plugin")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_plugins)

    p = sub.add_parser("describe", help="model card of a memory technology: parameters, units, sources, derived figures")
    p.add_argument("memory", help="technology name (e.g. stt_mram) or a conf/memory preset name")
    p.add_argument("overrides", nargs="*", help="key=value settings, e.g. ber=1e-4")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_describe)

    p = sub.add_parser("predict", help="score new data with a run's stored weights")
    p.add_argument("model", help="a run's output folder or model.npz")
    p.add_argument("data", help=".npz with 'x' (and optionally 'y')")
    p.add_argument("--output", help="save the predicted classes to this .npy file")
    p.set_defaults(func=_cmd_predict)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MemtechError as exc:
        print(f"memtech: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

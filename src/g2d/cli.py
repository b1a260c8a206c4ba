"""The ``g2d`` command line. Each subcommand lives in its own module under :mod:`g2d.commands`
and defines ``register(subparsers)`` with light imports only: a command's implementation (torch, the
library, the benchmarks) is imported by its handler when it runs, so ``g2d --help`` and
``g2d COMMAND --help`` answer at once. User errors print one clear message, not a traceback."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import g2d
from g2d import commands
from g2d.commands import apply_threads
from g2d.validation import G2DError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="g2d", description="Balanced multimodal learning with "
                                     "Gradient-Guided Distillation (G2D) and its baselines.")
    parser.add_argument("--version", action="version", version=f"g2d {g2d.__version__}",
                        help="print g2d's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"g2d.commands.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "takes_rest", False):  # `g2d bench NAME ...`: the benchmark's own parser reads the rest
        args.rest = rest
    elif rest:
        parser.parse_args(argv)  # argparse's own message for the unknown arguments, then exit 2
    if args.command is None:  # bare `g2d`: the list of commands
        parser.print_help()
        return 0
    try:
        apply_threads(args)
        return int(args.handler(args) or 0)
    except G2DError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a file the checks above did not foresee: name it, no traceback
        where = " -> ".join(str(f) for f in (err.filename, err.filename2) if f) or "a file"
        print(f"error: {where}: {err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; resume with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

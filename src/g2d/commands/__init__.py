"""CLI subcommands, one module each (``register(subparsers)``); shared option helpers."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from g2d.validation import ConfigError


def add_common(parser: argparse.ArgumentParser, config: bool = True) -> None:
    if config:
        parser.add_argument("config", type=Path, help="experiment YAML")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a new folder under runs/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set student.epochs=5 (repeatable)")
    parser.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N | mps")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_runtime(parser)


def add_runtime(parser: argparse.ArgumentParser) -> None:
    """Speed options (config keys ``precision``, ``channels_last``, ``compile``); unset = config's."""
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None,
                        help="mixed precision (autocast; fp16 adds loss scaling)")
    parser.add_argument("--channels-last", dest="channels_last", action="store_const", const=True,
                        default=None, help="channels-last memory layout for CNN encoders")
    parser.add_argument("--compile", action="store_const", const=True, default=None,
                        help="torch.compile each encoder and the fusion head")


def add_threads(parser: argparse.ArgumentParser, default: int | None) -> None:
    """``--threads``: torch's CPU intra-op threads, applied by :func:`g2d.cli.main`. One thread is
    much faster for small models on a busy machine (oversubscribed threads spin)."""
    parser.add_argument("--threads", type=int, default=default,
                        help=f"torch CPU threads (default: {default or 'torch default'}; 0 = torch default)")


def runtime_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The speed options given on the command line, as config overrides."""
    return {key: getattr(args, key) for key in ("precision", "channels_last", "compile")
            if getattr(args, key, None) is not None}


def parse_overrides(pairs: list[str], device: str | None = None) -> dict[str, Any]:
    """``["a.b=3"]`` -> ``{"a.b": 3}`` (values parsed as YAML scalars/lists)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set student.epochs=5")
        key, value = pair.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    if device is not None:
        out["device"] = device
    return out


def default_run_dir(prefix: str) -> Path:
    return Path("runs") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def show_progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()

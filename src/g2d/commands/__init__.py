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

"""CLI subcommands, one module each (``register(subparsers)``); shared option helpers."""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import yaml

from g2d.validation import ConfigError

if TYPE_CHECKING:
    from g2d.executors import ExecutorOptions


#: the largest seed (and integer option) any command takes: what fits a signed 64-bit integer (torch's seeds)
INT64_MAX = 2**63 - 1


class NumberType:
    """An argparse ``type=`` for a numeric option checked at parse time: an int or a finite float in
    ``[low, high]`` (``low`` excluded when ``low_open``). argparse turns its error into ``g2d CMD:
    error: argument --OPTION: ...`` and exit status 2, before anything runs. Every numeric option of
    every command uses one (tests/commands/test_options.py checks)."""

    def __init__(self, kind: type, low: float | None = None, high: float | None = INT64_MAX,
                 low_open: bool = False) -> None:
        self.kind, self.low, self.high, self.low_open = kind, low, high, low_open
        self.__name__ = kind.__name__  # argparse names the type in some messages

    def describe(self) -> str:
        word = "an integer" if self.kind is int else "a finite number"
        if self.low is not None and self.high is not None and self.high != INT64_MAX:
            return f"{word} in {'(' if self.low_open else '['}{self.low}, {self.high}]"
        if self.low is not None:
            return f"{word} {'>' if self.low_open else '>='} {self.low}" + \
                   (" (and below 2^63)" if self.kind is int else "")
        return f"{word} <= {self.high}" if self.high is not None else word

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, got {text!r}") from None
        if self.kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, got {text!r}")
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        if too_low or (self.high is not None and value > self.high):
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, got {text!r}")
        return value


def int_option(low: int | None = 0, high: int | None = INT64_MAX) -> NumberType:
    """An integer option in ``[low, high]`` (default: not negative, fits int64)."""
    return NumberType(int, low, high)


def float_option(low: float | None = 0.0, high: float | None = None, low_open: bool = False) -> NumberType:
    """A finite float option in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    return NumberType(float, low, high, low_open)


#: the common kinds
COUNT = int_option(1)  # epochs, trials, rounds, steps, sizes: at least one
NON_NEGATIVE = int_option(0)  # threads (0 = torch's default), workers of a DataLoader, warm-up steps
SEED = int_option(0, INT64_MAX)


def name_option(option: str) -> Callable[[str], str]:
    """An argparse ``type=`` for a name that becomes a folder (``--name``): one path component."""
    def check(text: str) -> str:
        from g2d.paths import check_name

        try:
            return check_name(text, option)
        except ConfigError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix(f"{option} ")) from None
    check.__name__ = "name"
    return check


class FolderOption:
    """argparse ``type=`` of ``--out``: the folder is checked when the command line is read (not an
    existing file, not under a file, writable; see :func:`check_writable`), before anything runs."""

    __name__ = "folder"

    def __init__(self, option: str = "--out") -> None:
        self.option = option

    def __call__(self, text: str) -> Path:
        path = Path(text)
        try:
            check_writable(path, self.option, folder=True)
        except ConfigError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix(f"{self.option} ")) from None
        return path


OUT_FOLDER = FolderOption("--out")


#: torch's CPU threads per process, the same default for every command. One thread is much faster
#: for small models on a busy machine (oversubscribed threads spin); raise it for big CPU models.
DEFAULT_THREADS = 1


def add_common(parser: argparse.ArgumentParser, config: bool = True) -> None:
    """The options every training command shares (config, --out, --set, --device, --quiet, speed
    options, --threads)."""
    if config:
        parser.add_argument("config", type=Path, help="experiment YAML, e.g. configs/demo.yaml")
    parser.add_argument("--out", type=OUT_FOLDER, default=None, help="run folder (default: a new folder under runs/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set student.epochs=5 (repeatable)")
    parser.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N | mps")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or progress lines")
    add_runtime(parser)
    add_threads(parser)


def add_runtime(parser: argparse.ArgumentParser) -> None:
    """Speed options (config keys ``precision``, ``channels_last``, ``compile``); unset = config's."""
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None,
                        help="mixed precision (autocast; fp16 adds loss scaling)")
    parser.add_argument("--channels-last", dest="channels_last", action="store_const", const=True,
                        default=None, help="channels-last memory layout for CNN encoders")
    parser.add_argument("--compile", action="store_const", const=True, default=None,
                        help="torch.compile each encoder and the fusion head")


def add_threads(parser: argparse.ArgumentParser, default: int = DEFAULT_THREADS) -> None:
    """``--threads``: torch's CPU intra-op threads, applied by :func:`g2d.cli.main` (and inside each
    worker of a grid). Every command uses :data:`DEFAULT_THREADS`."""
    if default != DEFAULT_THREADS:
        raise ValueError(f"--threads: every command defaults to {DEFAULT_THREADS} thread(s), got default={default}")
    parser.add_argument("--threads", type=NON_NEGATIVE, default=DEFAULT_THREADS,
                        help=f"torch CPU threads per process (default {DEFAULT_THREADS}; 0 = torch's default, "
                             "one per core)")


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's CPU threads from ``--threads`` (0 or absent: torch's default); imports torch, so
    only a command that runs calls it."""
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def parse_seeds(text: str, option: str = "--seeds") -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``: the one seed-list format of every command."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"{option}: expected comma-separated integers, e.g. 0,1,2; got {text!r}") from None
    if not seeds:
        raise ConfigError(f"{option}: expected at least one seed, e.g. 0,1,2; got {text!r}")
    bad = [s for s in seeds if not 0 <= s <= INT64_MAX]
    if bad:
        raise ConfigError(f"{option}: every seed must be in [0, 2^63-1] (a 64-bit seed); got {bad[0]}")
    return seeds


def seeds_option(text: str) -> list[int]:
    """argparse ``type=`` of ``--seeds``: :func:`parse_seeds`'s list, its error as argparse's."""
    try:
        return parse_seeds(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--seeds: ")) from None


SEEDS = seeds_option


def add_executor(parser: argparse.ArgumentParser, workers: int = 1) -> None:
    """Where a grid command runs its cells (see :mod:`g2d.executors`); ``workers``: the default of --workers."""
    parser.add_argument("--executor", choices=["local", "ray"], default="local",
                        help="local: a pool of --workers processes on this machine; ray: one Ray task per "
                             "cell (pip install 'g2d[ray]'); default local")
    parser.add_argument("--workers", type=COUNT, default=workers,
                        help="cells run at once (local: worker processes, each with --threads torch threads; "
                             "1 = one after another in this process; ray: tasks in flight, and the CPUs of a "
                             f"local Ray instance); default {workers}")
    parser.add_argument("--ray-address", dest="ray_address", default=None, metavar="ADDRESS",
                        help="Ray cluster to join, e.g. ray://head:10001 or auto (default: $RAY_ADDRESS, "
                             "else a local Ray instance)")


def executor_options(args: argparse.Namespace) -> "ExecutorOptions":
    from g2d.executors import ExecutorOptions, check_executor, stderr_log

    check_executor(args.executor, args.workers)
    return ExecutorOptions(args.executor, args.workers, args.threads, args.ray_address,
                           log=None if getattr(args, "quiet", False) else stderr_log)


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


def output_folder(path: Path | None, prefix: str, option: str = "--out") -> Path:
    """The run folder ``option`` names (default: a new one under ``runs/``), checked now: not an
    existing file, not under a file, and writable — so the command fails before any work."""
    path = path or default_run_dir(prefix)
    check_writable(path, option, folder=True)
    return path


def check_writable(path: Path, option: str, folder: bool) -> None:
    """ConfigError naming ``option`` when ``path`` cannot be written: an existing file where a folder
    is wanted (or the reverse), a file among its parents, or a read-only / forbidden location."""
    if path.exists() and folder and not path.is_dir():
        raise ConfigError(f"{option} {path}: is an existing file; expected a folder (or a path that does not exist yet)")
    if path.is_dir() and not folder:
        raise ConfigError(f"{option} {path}: is a folder; expected a file name")
    parent = path if folder and path.is_dir() else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{option} {path}: {parent} is a file, not a folder; expected a path under a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".g2d-write-test.", dir=parent)
    except OSError as err:
        raise ConfigError(f"{option} {path}: cannot write in {parent} ({err.strerror.lower() if err.strerror else err}); "
                          f"choose a writable location") from None
    os.close(fd)
    os.unlink(probe)


def show_progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()

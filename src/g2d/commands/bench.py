"""``g2d bench <name>``: benchmarks, one module each under :mod:`g2d.bench`."""
from __future__ import annotations

import argparse
import importlib
import pkgutil

from g2d import bench


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="benchmarks that write markdown tables and figures")
    inner = parser.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"g2d.bench.{info.name}")
        if not info.name.startswith("_") and hasattr(module, "register"):
            module.register(inner)

"""``g2d demo``: the whole pipeline on the built-in synthetic data, in a few minutes on a CPU."""
from __future__ import annotations

import argparse
from pathlib import Path

from g2d.commands import COUNT, OUT_FOLDER, SEED, add_runtime, add_threads, output_folder, runtime_overrides, show_progress


def cmd_demo(args: argparse.Namespace) -> int:
    from g2d.api import MethodSpec, run_methods
    from g2d.demo import demo_config
    from g2d.report.table import format_summary

    config = demo_config(args.seed, args.epochs, args.device or "auto")
    if runtime_overrides(args):
        from g2d.config import replace

        config = replace(config, runtime_overrides(args), "demo config")
    run = output_folder(args.out, "demo")
    methods = [MethodSpec.parse(m) for m in args.methods.split(",")]
    summary = run_methods(config, run, methods, progress=show_progress(args), overwrite=args.overwrite)
    print(format_summary(summary))
    print(f"\nrun folder: {run}  (summary.json, config.yaml, teachers/, cache/, students/)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="teachers + joint and G2D students on the built-in synthetic data")
    p.add_argument("--out", type=OUT_FOLDER, default=None, help="run folder (default: runs/demo-<time>)")
    p.add_argument("--seed", type=SEED, default=0, help="training seed (the data stay the same)")
    p.add_argument("--epochs", type=COUNT, default=30, help="epochs for teachers and students")
    p.add_argument("--methods", default="joint,g2d", help="comma-separated methods, e.g. joint,g2d,g2d-loss,smp")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--overwrite", action="store_true", help="replace finished students (and teachers trained for "
                   "another experiment) in --out; they stay intact until the new ones have finished")
    add_runtime(p)
    add_threads(p)
    p.set_defaults(handler=cmd_demo)

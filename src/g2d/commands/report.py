"""``g2d report RUN_DIR [RUN_DIR ...] --out FOLDER``: one self-contained HTML page
(``FOLDER/report.html``) with PNG/SVG copies of its figures in ``FOLDER/report_figures/``."""
from __future__ import annotations

import argparse
from pathlib import Path

from g2d.commands import OUT_FOLDER, add_threads, default_run_dir
from g2d.validation import ConfigError


def report_folder(args: argparse.Namespace) -> Path:
    """``--out``, or ``RUN_DIR/report`` for one run folder, or a new folder under runs/."""
    if args.out is not None:
        if args.out.suffix.lower() in (".html", ".htm"):
            raise ConfigError(f"--out is a folder (the page is written to FOLDER/report.html); got the file "
                              f"name {str(args.out)!r}, e.g. use --out {args.out.with_suffix('')}")
        return args.out
    return args.run_dirs[0] / "report" if len(args.run_dirs) == 1 else default_run_dir("report")


def cmd_report(args: argparse.Namespace) -> int:
    from g2d.commands import check_writable
    from g2d.report import build_report

    out = report_folder(args)
    check_writable(out, "--out", folder=True)
    report = build_report(args.run_dirs, out / "report.html", posthoc=not args.logs_only, device=args.device,
                          refresh=args.refresh, title=args.title)
    for note in report.notes if not args.quiet else []:
        print(f"note: {note}")
    print(f"report written to {report.path} ({len(report.figures) // 2} figures as PNG and SVG in "
          f"{report.path.parent / (report.path.stem + '_figures')})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="one self-contained HTML report comparing run folders")
    p.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR",
                   help="run folders (g2d teachers/train/demo/bench seed folders, or a g2d tune folder)")
    p.add_argument("--out", type=OUT_FOLDER, default=None,
                   help="output folder for report.html and report_figures/ (default: RUN_DIR/report for one "
                        "run folder, else a new folder under runs/)")
    p.add_argument("--title", default=None, help="page title")
    p.add_argument("--device", default=None, help="device for the checkpoint analyses (default: the config's)")
    p.add_argument("--logs-only", action="store_true",
                   help="only what the training logs hold: skip loading checkpoints and data")
    p.add_argument("--refresh", action="store_true", help="recompute cached checkpoint analyses")
    p.add_argument("--quiet", action="store_true", help="do not print the notes (they are in the page too)")
    add_threads(p)
    p.set_defaults(handler=cmd_report)

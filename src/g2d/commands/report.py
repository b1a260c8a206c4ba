"""``g2d report RUN_DIR [RUN_DIR ...] --out report.html``: one self-contained HTML page."""
from __future__ import annotations

import argparse
from pathlib import Path


def cmd_report(args: argparse.Namespace) -> int:
    from g2d.commands import check_writable
    from g2d.report import build_report

    check_writable(args.out, "--out", folder=False)
    report = build_report(args.run_dirs, args.out, posthoc=not args.logs_only, device=args.device,
                          refresh=args.refresh, title=args.title)
    for note in report.notes:
        print(f"note: {note}")
    print(f"report written to {report.path} ({len(report.figures) // 2} figures as PNG and SVG in "
          f"{report.path.parent / (report.path.stem + '_figures')})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="one self-contained HTML report comparing run folders")
    p.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", type=Path, default=Path("report.html"), help="HTML file (default report.html)")
    p.add_argument("--title", default=None, help="page title")
    p.add_argument("--device", default=None, help="device for the checkpoint analyses (default: the config's)")
    p.add_argument("--logs-only", action="store_true",
                   help="only what the training logs hold: skip loading checkpoints and data")
    p.add_argument("--refresh", action="store_true", help="recompute cached checkpoint analyses")
    p.set_defaults(handler=cmd_report)

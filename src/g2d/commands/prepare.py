"""``g2d prepare DATASET RAW_DIR --out PREPARED_DIR``: a raw download -> the layout g2d's loader
reads (see docs/how-to/prepare.md); ``g2d prepare --verify PREPARED_DIR [--compare OTHER]``."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from g2d.commands import COUNT, OUT_FOLDER, float_option, parse_overrides, show_progress
from g2d.validation import ConfigError

#: data sets `g2d prepare` knows (kept here so `--help` imports nothing heavy; a test checks it
#: against the registry)
DATASETS = ["ave", "cremad", "iemocap", "kinetics-sounds", "mosei", "mosi", "urfunny", "vggsound"]
#: command-line shortcuts for the common options (all of them: --set KEY=VALUE)
SHORTCUTS = {"fps": float_option(0.0, low_open=True), "num_frames": COUNT, "frame_size": COUNT,
             "sample_rate": COUNT, "max_seconds": float_option(0.0, low_open=True), "split": str}


def cmd_prepare(args: argparse.Namespace) -> int:
    if args.verify is not None:
        return cmd_verify(args)
    if args.compare is not None:
        raise ConfigError("--compare: use it with --verify PREPARED_DIR (the folder to compare with OTHER)")
    if args.dataset is None or args.raw is None or args.out is None:
        raise ConfigError("g2d prepare: expected DATASET RAW_DIR --out PREPARED_DIR (or --verify PREPARED_DIR)")
    from g2d.prepare import prepare

    options = parse_overrides(args.overrides)
    options.update({k: getattr(args, k) for k in SHORTCUTS if getattr(args, k) is not None})
    if args.allow_pickle:
        options["allow_pickle"] = True
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers: expected 1 or more processes, got {args.workers}")
    try:
        result = prepare(args.dataset, args.raw, args.out, options, workers=args.workers,
                         skip_bad=args.skip_bad, progress=show_progress(args))
    except KeyboardInterrupt:  # every finished clip is recorded: the same command goes on from there
        print(f"interrupted; run the same g2d prepare command again to resume into {args.out}", file=sys.stderr)
        return 130
    print(result.summary())
    extra = " ".join(f"--set data.options.{k}={v}" for k, v in result.loader_options.items())
    print(f"train on it: g2d teachers configs/{config_name(args.dataset)}.yaml "
          f"--set data.options.root={args.out}{' ' + extra if extra else ''}")
    return 0


def config_name(dataset: str) -> str:
    return {"kinetics-sounds": "kinetics_sounds", "mosi": "sequences", "mosei": "sequences",
            "urfunny": "sequences", "iemocap": "sequences"}.get(dataset, dataset)


def cmd_verify(args: argparse.Namespace) -> int:
    from g2d.prepare import compare, read_manifest, verify

    report = verify(args.verify)
    for line in report.lines():
        print(line)
    same = True
    if args.compare is not None:
        lines = compare(read_manifest(args.verify), read_manifest(args.compare))
        print(f"compared with {args.compare}:")
        for line in lines:
            print(f"  {line}")
        same = lines[0].startswith("identical")
    return 0 if report.ok and same else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="raw download (CREMA-D, AVE, VGGSound, Kinetics-Sounds, MultiBench "
                       "pickles) -> the folder layout g2d's loaders read, with prepare.json checksums",
                       description="Turn a data set's raw download into the layout its g2d loader reads. "
                       f"Data sets: {', '.join(DATASETS)}. Reruns resume; see docs/how-to/prepare.md.")
    p.add_argument("dataset", nargs="?", choices=DATASETS, metavar="DATASET", help=", ".join(DATASETS))
    p.add_argument("raw", nargs="?", type=Path, metavar="RAW_DIR", help="the download as released")
    p.add_argument("--out", type=OUT_FOLDER, default=None, metavar="PREPARED_DIR",
                   help="output folder: where the prepared layout goes")
    p.add_argument("--workers", type=COUNT, default=None,
                   help=f"decoding processes (default: every core, here {os.cpu_count()})")
    p.add_argument("--skip-bad", dest="skip_bad", action="store_true",
                   help="skip missing/corrupt clips (listed in PREPARED_DIR/skipped.csv) instead of stopping")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a data set option, e.g. --set split=speakers --set jpeg_quality=90 (repeatable)")
    for name, kind in SHORTCUTS.items():
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=None,
                       help=f"shortcut for --set {name}=VALUE")
    p.add_argument("--allow-pickle", dest="allow_pickle", action="store_true",
                   help="MultiBench pickles (mosi/mosei/urfunny/iemocap): a pickle can run code — only for "
                        "files you trust; converted once to .npz")
    p.add_argument("--verify", type=Path, default=None, metavar="PREPARED_DIR",
                   help="recompute every file's SHA-256 and name each that differs from prepare.json")
    p.add_argument("--compare", type=Path, default=None, metavar="OTHER",
                   help="with --verify: list the options, library versions and files that differ from "
                        "another prepare.json (a file or its folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_prepare, threads=None)

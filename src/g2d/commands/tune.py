"""``g2d tune CONFIG --trials N``: an Optuna study over the config's ``tune:`` search space, on
validation only (see :mod:`g2d.tuning.study`)."""
from __future__ import annotations

import argparse
import sys

from g2d.commands import COUNT, add_common, float_option, output_folder, parse_overrides, runtime_overrides, show_progress


def cmd_tune(args: argparse.Namespace) -> int:
    from g2d import api
    from g2d.tuning.study import STUDY_NAME, import_optuna, tune

    import_optuna()  # say how to install it before anything trains
    if args.storage is not None:
        from g2d.tuning.study import check_storage

        check_storage(args.storage)
    run = output_folder(args.out, "tune")
    config = api.load_config(args.config, {**parse_overrides(args.overrides, args.device), **runtime_overrides(args)})
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    result = tune(config, run, trials=args.trials, timeout=args.timeout, storage=args.storage,
                  study_name=args.study or STUDY_NAME, progress=show_progress(args), log=log)
    print((run / "trials.md").read_text())
    values = ", ".join(f"{k}={v}" for k, v in result.best_params.items())
    print(f"best: trial {result.best_trial}, val {result.metric} {result.best_value:.4f} ({values})")
    if result.default_value is not None:
        print(f"the config's own values (trial 0): val {result.metric} {result.default_value:.4f}")
    print(f"written {run / 'best.yaml'}, {run / 'trials.csv'}, {run / 'history.png'}; "
          f"`g2d report {run}` shows them")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="search the config's tune: space with Optuna, on validation only "
                                    "(pip install 'g2d[tune]')")
    add_common(p)
    p.add_argument("--trials", type=COUNT, required=True,
                   help="trials the study should hold when done (a resumed study runs only the missing ones)")
    p.add_argument("--timeout", type=float_option(0.0, low_open=True), default=None, metavar="S", help="stop starting new trials after S seconds")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="Optuna storage, e.g. postgresql://host/db to share a study between machines "
                        "(default: sqlite:///RUN/study.db, resumable, no server)")
    p.add_argument("--study", default=None, help="study name inside the storage (default g2d-tune)")
    p.set_defaults(handler=cmd_tune)

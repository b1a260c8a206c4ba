"""``g2d teachers | cache | train | evaluate``: the pipeline one step at a time."""
from __future__ import annotations

import argparse
from pathlib import Path

import sys

from g2d.commands import (COUNT, add_common, add_threads, float_option, name_option, output_folder, parse_overrides,
                          runtime_overrides, show_progress)
from g2d.validation import ConfigError


def _config(args: argparse.Namespace):
    from g2d import api

    return api.load_config(args.config, {**parse_overrides(args.overrides, args.device),
                                         **runtime_overrides(args)})


def cmd_teachers(args: argparse.Namespace) -> int:
    from g2d import api

    from g2d.resume import parse_allowed

    run = output_folder(args.out, "run")
    config = _config(args)
    teachers = api.train_teachers(config, run, progress=show_progress(args), resume=args.resume,
                                  overwrite=args.overwrite, allow_change=parse_allowed(args.allow_change),
                                  log=lambda note: print(f"note: {note}"))
    for m, t in teachers.items():
        metric = t.card["select_metric"]
        print(f"teacher {m}: val {metric} {t.card['val'][metric]:.4f} (epoch {t.card['selected_epoch']}) "
              f"-> {run / 'teachers' / m}")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    if args.list or args.prune:
        return preprocessed_cache(args)
    if args.verify:
        if args.out is None:
            return verify_preprocessed_cache(args)
        from g2d.cache import verify_cache
        from g2d.paths import require_folder

        require_folder(args.out, "--out: run folder", ConfigError)
        teachers = args.out / "teachers"
        for line in verify_cache(args.out / "cache", teachers if teachers.is_dir() else None):
            print(line)
        print(f"teacher-output cache {args.out / 'cache'}: every array matches its recorded SHA-256"
              + (f" and the cache was built from the teachers in {teachers}" if teachers.is_dir() else ""))
        return 0
    if args.config is None:
        raise ConfigError("g2d cache: expected a CONFIG to build the cache from (or --verify [--out RUN], "
                          "--list, --prune)")
    from g2d import api

    run = output_folder(args.out, "run")
    config = _config(args)
    notes: list[str] = []
    path = api.cache_teacher_outputs(config, run, overwrite=args.overwrite, log=notes.append)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not any("up to date" in note for note in notes):
        print(f"teacher-output cache written to {path}")
    return 0


def preprocessed_cache(args: argparse.Namespace) -> int:
    """``g2d cache --list`` / ``--prune``: the preprocessed-input cache's entries."""
    from g2d.data.preprocessed import default_cache_root
    from g2d.data.preprocessed_store import format_entries, list_entries, prune, remove_stale_staging

    root = args.cache_dir or default_cache_root()
    stale = remove_stale_staging(root) if Path(root).is_dir() else []
    if stale:
        print(f"removed {len(stale)} staging folders that interrupted builds left in {root}")
    if args.prune:
        if args.older_than is None and args.max_size is None:
            raise ConfigError("--prune: say what to delete with --older-than DAYS and/or --max-size GIB")
        removed = prune(root, args.older_than * 86400 if args.older_than is not None else None,
                        int(args.max_size * 2**30) if args.max_size is not None else None)
        print(f"removed {len(removed)} entries ({sum(e.size for e in removed) / 2**20:.1f} MiB) from {root}")
    print(format_entries(list_entries(root)))
    return 0


def verify_preprocessed_cache(args: argparse.Namespace) -> int:
    """``g2d cache --verify`` without ``--out``: every preprocessed-input cache entry's arrays against
    their recorded full SHA-256."""
    from g2d.data.preprocessed import default_cache_root
    from g2d.data.preprocessed_store import verify_entries
    from g2d.validation import CacheMismatchError

    root = args.cache_dir or default_cache_root()
    lines, bad = verify_entries(root)
    for line in lines:
        print(line)
    if bad:
        raise CacheMismatchError(f"preprocessed-input cache {root}: {len(bad)} entries differ from what was built: "
                                 f"{[str(b) for b in bad]}; delete them (the next run rebuilds them)")
    if not lines:
        print(f"preprocessed-input cache {root}: no entries to check")
        return 0
    print(f"preprocessed-input cache {root}: {len(lines)} entries checked, every array matches its recorded SHA-256")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from g2d import api, distributed
    from g2d.resume import parse_allowed

    if args.allow_change and not args.resume:
        raise ConfigError("--allow-change: only with --resume (it accepts changed keys of a resumed run)")
    run = output_folder(args.out, "run")
    config = _config(args)
    if args.distributed or distributed.launched_by_torchrun():
        if not distributed.launched_by_torchrun() or args.out is None:
            raise ConfigError("--distributed: launch with `torchrun --nproc_per_node N -m g2d.cli train "
                              "CONFIG --distributed --out RUN` (WORLD_SIZE > 1; one run folder for all ranks)")
        distributed.init(config.device)
    try:
        student = api.train_student(config, run, teachers_dir=args.teachers, progress=show_progress(args),
                                    resume=args.resume, name=args.name, overwrite=args.overwrite,
                                    allow_change=parse_allowed(args.allow_change))
        main = distributed.is_main()
    finally:
        distributed.shutdown()
    if not main:
        return 0
    for note in student.notes:
        print(f"note: {note}")
    metric = student.result.select_metric
    print(f"{student.method}: selected epoch {student.result.best_epoch} on val {metric}; "
          f"test {metric} {student.result.test[metric]:.4f} -> {student.out_dir}")
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    from g2d import api
    from g2d.analysis.diagnose import format_diagnosis

    run = output_folder(args.out, "run")
    config = _config(args)
    result = api.diagnose(config, run, probe_epochs=args.probe_epochs, probe_patience=args.probe_patience,
                          progress=show_progress(args))
    print(format_diagnosis(result))
    print(f"\nwritten {Path(run) / 'diagnosis.json'}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from g2d import api
    from g2d.report.table import format_summary

    summary = api.evaluate_run(args.run_dir, device=args.device)
    if not args.quiet:
        print(format_summary(summary) + "\n")
    print(f"written {Path(args.run_dir) / 'summary.json'}")
    return 0


def add_allow_change(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-change", dest="allow_change", action="append", default=[], metavar="KEY[,KEY]",
                        help="with --resume: accept these changed config keys (dotted paths; only keys that cannot "
                             "change what the finished epochs mean: epochs, patience, device, compile, "
                             "channels_last, data.num_workers, data.eval_batch_size, analysis.*)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("teachers", help="train one teacher per modality")
    add_common(p)
    p.add_argument("--resume", action="store_true", help="continue interrupted teacher training (or a finished one, "
                   "with more epochs)")
    p.add_argument("--overwrite", action="store_true",
                   help="retrain teachers the run folder already holds (its cache and students then no longer match); "
                        "the old ones stay until the new ones have finished")
    add_allow_change(p)
    p.set_defaults(handler=cmd_teachers)

    p = sub.add_parser("cache", help="store every training sample's teacher outputs (or --verify them)")
    p.add_argument("config", type=Path, nargs="?", default=None, help="experiment YAML (to build the cache)")
    add_common(p, config=False)
    p.add_argument("--verify", action="store_true",
                   help="check RUN/cache's arrays (with --out RUN), or else the preprocessed-input cache's "
                        "entries, against their full SHA-256 (opening checks only a fingerprint)")
    p.add_argument("--list", action="store_true",
                   help="list the preprocessed-input cache's entries (size, age, last use, what made them)")
    p.add_argument("--prune", action="store_true", help="delete preprocessed-input cache entries (never one "
                   "in use): unused for --older-than DAYS, then least recently used beyond --max-size GIB")
    p.add_argument("--older-than", dest="older_than", type=float_option(0.0), default=None, metavar="DAYS",
                   help="with --prune: delete entries unused for this many days")
    p.add_argument("--max-size", dest="max_size", type=float_option(0.0), default=None, metavar="GIB",
                   help="with --prune: then delete least recently used entries until the cache fits")
    p.add_argument("--overwrite", action="store_true",
                   help="rebuild RUN/cache even when it is up to date (a stale or damaged one is always rebuilt)")
    p.add_argument("--cache-dir", dest="cache_dir", type=Path, default=None,
                   help="preprocessed-input cache folder (default $G2D_CACHE_DIR/preprocessed or ~/.cache/g2d/preprocessed)")
    p.set_defaults(handler=cmd_cache)

    p = sub.add_parser("train", help="train a multimodal student with the config's method")
    add_common(p)
    p.add_argument("--teachers", type=Path, default=None, help="teachers folder (default RUN/teachers)")
    p.add_argument("--name", type=name_option("--name"), default=None,
                   help="student folder name, one path component (default: the method's name)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run (or a finished one, with more epochs and --allow-change)")
    p.add_argument("--overwrite", action="store_true", help="replace a finished student of the same name (it "
                   "stays intact until the new one has finished) or discard an interrupted one")
    add_allow_change(p)
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel (DDP) across the processes torchrun started (auto when WORLD_SIZE > 1)")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("diagnose", help="which modality joint training neglects, whether the paper's SMP "
                                        "ranking agrees, and the SMP settings to use (train/val only)")
    add_common(p)
    p.add_argument("--probe-epochs", type=COUNT, default=None,
                   help="most epochs of the joint probe (default: student.epochs); it stops earlier once its "
                        "fused validation score flattens")
    p.add_argument("--probe-patience", type=COUNT, default=None,
                   help="the probe stops after this many epochs without a better fused validation score "
                        "(default: a tenth of its epochs, at least 3)")
    p.set_defaults(handler=cmd_diagnose)

    p = sub.add_parser("evaluate", help="test metrics of every student and teacher in a run folder")
    p.add_argument("run_dir", type=Path, help="run folder (holding students/ and teachers/)")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N | mps (default: each student's config)")
    p.add_argument("--quiet", action="store_true", help="print only where summary.json was written, not the table")
    add_threads(p)
    p.set_defaults(handler=cmd_evaluate)

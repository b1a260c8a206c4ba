"""``g2d teachers | cache | train | evaluate``: the pipeline one step at a time."""
from __future__ import annotations

import argparse
from pathlib import Path

from g2d.commands import (add_common, add_threads, output_folder, parse_overrides, runtime_overrides,
                          show_progress)
from g2d.validation import ConfigError


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _config(args: argparse.Namespace):
    from g2d import api

    return api.load_config(args.config, {**parse_overrides(args.overrides, args.device),
                                         **runtime_overrides(args)})


def cmd_teachers(args: argparse.Namespace) -> int:
    from g2d import api

    config = _config(args)
    run = output_folder(args.out, "run")
    if not (args.resume or args.overwrite):
        api.refuse_to_overwrite_teachers(run)
    teachers = api.train_teachers(config, run, progress=show_progress(args), resume=args.resume)
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
            raise ConfigError("--verify: name the run folder whose cache to check with --out RUN")
        from g2d.cache import verify_cache

        for line in verify_cache(args.out / "cache"):
            print(line)
        print(f"teacher-output cache {args.out / 'cache'}: every array matches its recorded SHA-256")
        return 0
    if args.config is None:
        raise ConfigError("g2d cache: expected a CONFIG to build the cache from (or --verify --out RUN)")
    from g2d import api

    config = _config(args)
    run = output_folder(args.out, "run")
    path = api.cache_teacher_outputs(config, run)
    print(f"teacher-output cache written to {path}")
    return 0


def preprocessed_cache(args: argparse.Namespace) -> int:
    """``g2d cache --list`` / ``--prune``: the preprocessed-input cache's entries."""
    from g2d.data.preprocessed import default_cache_root
    from g2d.data.preprocessed_store import format_entries, list_entries, prune

    root = args.cache_dir or default_cache_root()
    if args.prune:
        if args.older_than is None and args.max_size is None:
            raise ConfigError("--prune: say what to delete with --older-than DAYS and/or --max-size GIB")
        removed = prune(root, args.older_than * 86400 if args.older_than is not None else None,
                        int(args.max_size * 2**30) if args.max_size is not None else None)
        print(f"removed {len(removed)} entries ({sum(e.size for e in removed) / 2**20:.1f} MiB) from {root}")
    print(format_entries(list_entries(root)))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from g2d import api, distributed

    config = _config(args)
    if args.distributed or distributed.launched_by_torchrun():
        if not distributed.launched_by_torchrun() or args.out is None:
            raise ConfigError("--distributed: launch with `torchrun --nproc_per_node N -m g2d.cli train "
                              "CONFIG --distributed --out RUN` (WORLD_SIZE > 1; one run folder for all ranks)")
        distributed.init(config.device)
    run = output_folder(args.out, "run")
    try:
        student = api.train_student(config, run, teachers_dir=args.teachers, progress=show_progress(args),
                                    resume=args.resume, name=args.name)
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

    config = _config(args)
    run = output_folder(args.out, "run")
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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("teachers", help="train one teacher per modality")
    add_common(p)
    p.add_argument("--resume", action="store_true", help="continue interrupted teacher training")
    p.add_argument("--overwrite", action="store_true",
                   help="retrain teachers the run folder already holds (its cache and students then no longer match)")
    p.set_defaults(handler=cmd_teachers)

    p = sub.add_parser("cache", help="store every training sample's teacher outputs (or --verify them)")
    p.add_argument("config", type=Path, nargs="?", default=None, help="experiment YAML (to build the cache)")
    add_common(p, config=False)
    p.add_argument("--verify", action="store_true",
                   help="check RUN/cache's arrays against their full SHA-256 (opening checks only a fingerprint)")
    p.add_argument("--list", action="store_true",
                   help="list the preprocessed-input cache's entries (size, age, last use, what made them)")
    p.add_argument("--prune", action="store_true", help="delete preprocessed-input cache entries (never one "
                   "in use): unused for --older-than DAYS, then least recently used beyond --max-size GIB")
    p.add_argument("--older-than", dest="older_than", type=float, default=None, metavar="DAYS",
                   help="with --prune: delete entries unused for this many days")
    p.add_argument("--max-size", dest="max_size", type=float, default=None, metavar="GIB",
                   help="with --prune: then delete least recently used entries until the cache fits")
    p.add_argument("--cache-dir", dest="cache_dir", type=Path, default=None,
                   help="preprocessed-input cache folder (default $G2D_CACHE_DIR/preprocessed or ~/.cache/g2d/preprocessed)")
    p.set_defaults(handler=cmd_cache)

    p = sub.add_parser("train", help="train a multimodal student with the config's method")
    add_common(p)
    p.add_argument("--teachers", type=Path, default=None, help="teachers folder (default RUN/teachers)")
    p.add_argument("--name", default=None, help="student folder name (default: the method's name)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel (DDP) across the processes torchrun started (auto when WORLD_SIZE > 1)")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("diagnose", help="which modality joint training neglects, whether the paper's SMP "
                                        "ranking agrees, and the SMP settings to use (train/val only)")
    add_common(p)
    p.add_argument("--probe-epochs", type=positive_int, default=None,
                   help="most epochs of the joint probe (default: student.epochs); it stops earlier once its "
                        "fused validation score flattens")
    p.add_argument("--probe-patience", type=positive_int, default=None,
                   help="the probe stops after this many epochs without a better fused validation score "
                        "(default: a tenth of its epochs, at least 3)")
    p.set_defaults(handler=cmd_diagnose)

    p = sub.add_parser("evaluate", help="test metrics of every student and teacher in a run folder")
    p.add_argument("run_dir", type=Path, help="run folder (holding students/ and teachers/)")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N | mps (default: each student's config)")
    p.add_argument("--quiet", action="store_true", help="print only where summary.json was written, not the table")
    add_threads(p)
    p.set_defaults(handler=cmd_evaluate)

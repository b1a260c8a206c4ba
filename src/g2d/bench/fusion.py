"""``g2d bench fusion``: G2D's test accuracy per fusion module and data set (paper Table 5).

For every data set (the built-in synthetic one, plus each ``--config``) and every seed, the
unimodal teachers are trained once and cached; then one G2D student per fusion is trained on them
(the teachers' linear heads do not depend on the student's fusion). The table holds the test
accuracy at the epoch selected on validation, mean ± std over seeds (MAE for regression data).
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from g2d import io
from g2d.bench.grid import publish, run_variants
from g2d.catalog import FUSIONS
from g2d.commands import (OUT_FOLDER, add_executor, add_threads, default_run_dir, executor_options, parse_overrides,
                          SEEDS)
from g2d.executors import ExecutorOptions
from g2d.config import ExperimentConfig, load_config, parse_config, set_dotted
from g2d.validation import ConfigError, G2DError

#: The paper's names and row order; fusions it does not have follow, alphabetically.
PAPER_ROWS = {"sum": "Sum", "concat": "Concat", "film": "FiLM", "gated": "BiGated",
              "cross-attention": "Cross-Attention", "late": "Late"}

#: The default data: synthetic, two modalities, small enough for a few minutes on 2 CPU cores.
SYNTHETIC: dict[str, Any] = {
    "data": {"name": "synthetic", "batch_size": 64,
             "options": {"num_train": 2000, "num_val": 500, "num_test": 2000}},
    "teachers": {"epochs": 20, "optim": {"lr": 0.01, "step_size": None}},
    "student": {"epochs": 20, "optim": {"lr": 0.01, "step_size": None}},
    "method": {"name": "g2d"},
    "analysis": {"track": False},
}


def synthetic_config(overrides: dict[str, Any]) -> ExperimentConfig:
    raw = copy.deepcopy(SYNTHETIC)
    for key, value in overrides.items():
        set_dotted(raw, key, value)
    return parse_config(raw, "synthetic benchmark config")


def variant(config: ExperimentConfig, seed: int, fusion: str | None = None) -> ExperimentConfig:
    """``config`` with G2D as the method, ``seed``, and (when given) ``fusion`` (default options unless
    it is the config's own fusion)."""
    raw = config.model_dump(mode="json")
    raw["seed"] = seed
    if raw["method"]["name"] != "g2d":
        raw["method"] = {"name": "g2d", "options": {}, "modulators": []}
    if fusion is not None and raw["model"]["fusion"]["name"] != fusion:
        raw["model"]["fusion"] = {"name": fusion, "options": {}}  # the config's own fusion keeps its options
    return parse_config(raw, f"fusion benchmark (fusion {fusion!r}, seed {seed})")


def run_dataset(config: ExperimentConfig, fusions: list[str], seeds: list[int], work: Path,
                progress: bool = False, log=print, run: ExecutorOptions | None = None) -> dict[str, Any]:
    """Teachers once per seed, then one G2D student per fusion (cells of :func:`run_variants`);
    returns per-fusion test metrics and the failed cells."""
    variants = {f"g2d-{f}": partial(_fusion_variant, fusion=f) for f in fusions}
    summaries = run_variants(variant(config, seeds[0]), variants, seeds, work, progress, run)
    done = [s for s in summaries if "task" in s]
    if not done:
        return {"task": None, "modalities": [], "fusions": {}, "teachers": [],
                "failed": {n: e for s in summaries for n, e in s["failed"].items()}}
    results: dict[str, Any] = {"task": done[0]["task"], "modalities": done[0]["modalities"],
                               "fusions": {f: [] for f in fusions}, "teachers": [],
                               "failed": {n: e for s in summaries for n, e in s["failed"].items()}}
    metric = _metric(results["task"])
    for summary in done:
        results["teachers"].append({m: t["test"] for m, t in summary["teachers"].items()})
        log(f"  seed {summary['seed']}: teachers trained in {summary['teachers_wall_s']:.1f} s")
        for fusion in fusions:
            student = summary["methods"].get(f"g2d-{fusion}")
            if student is None:
                continue
            results["fusions"][fusion].append({"seed": summary["seed"], "test": student["test"],
                                               "selected_epoch": student["selected_epoch"],
                                               "wall_s": student["wall_s"]})
            log(f"  seed {summary['seed']}: {fusion:<16} test {metric} {student['test'][metric]:.4f} "
                f"({student['wall_s']:.1f} s)")
    return results


def _fusion_variant(config: ExperimentConfig, fusion: str) -> ExperimentConfig:
    return variant(config, config.seed, fusion)


def _metric(task: str) -> str:
    return "accuracy" if task == "classification" else "mae"


def cell(values: list[float], task: str) -> tuple[str, float]:
    """``"83.4 ± 1.2"`` (accuracy in %, MAE as is) and the mean, for choosing the best."""
    scale = 100.0 if task == "classification" else 1.0
    vals = [v * scale for v in values]
    mean = statistics.mean(vals)
    spread = f" ± {statistics.stdev(vals):.2f}" if len(vals) > 1 else ""
    return f"{mean:.2f}{spread}", mean


def fusion_table(datasets: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per fusion (paper order), one column per data set; best per column bold."""
    fusions = list(dict.fromkeys(f for d in datasets.values() for f in d["fusions"]))
    fusions.sort(key=lambda f: (list(PAPER_ROWS).index(f) if f in PAPER_ROWS else len(PAPER_ROWS), f))
    columns = {}
    for name, data in datasets.items():
        metric = _metric(data["task"])
        cells = {f: cell([r["test"][metric] for r in data["fusions"][f]], data["task"])
                 for f in fusions if data["fusions"].get(f)}
        means = [m for _, m in cells.values()]
        best = (max if metric == "accuracy" else min)(means) if means else None
        columns[name] = {f: f"**{text}**" if mean == best else text for f, (text, mean) in cells.items()}
    header = ["Fusion"] + [n if datasets[n]["task"] == "classification" else f"{n} (MAE)" for n in datasets]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for f in fusions:
        lines.append("| " + " | ".join([PAPER_ROWS.get(f, f)] + [columns[n].get(f, "–") for n in datasets]) + " |")
    return "\n".join(lines)


def teachers_line(name: str, data: dict[str, Any]) -> str:
    metric = _metric(data["task"])
    parts = [f"{m} {cell([t[m][metric] for t in data['teachers']], data['task'])[0]}" for m in data["modalities"]]
    return f"- {name}: unimodal teachers' test {metric}: " + ", ".join(parts)


def _column_name(config: ExperimentConfig, path: Path | None, taken: set[str]) -> str:
    """The config file's stem (e.g. ``mfeat-3``), or the data set's name for the built-in column."""
    name = path.stem if path is not None else config.data.name
    return name if name not in taken else f"{name}-{len(taken)}"


def cmd_fusion(args: argparse.Namespace) -> int:
    run = executor_options(args)
    fusions = args.fusions.split(",") if args.fusions else FUSIONS.names()
    unknown = [f for f in fusions if f not in FUSIONS]
    if unknown:
        raise ConfigError(f"--fusions: unknown fusions {unknown}; expected some of {FUSIONS.names()}")
    seeds = args.seeds
    overrides = parse_overrides(args.overrides, args.device)
    configs: list[tuple[ExperimentConfig, Path | None]] = []
    if not args.no_synthetic:
        configs.append((synthetic_config(overrides), None))
    configs += [(load_config(path, overrides), path) for path in args.config]
    if not configs:
        raise ConfigError("nothing to run: --no-synthetic needs at least one --config")
    out = args.out or default_run_dir("bench-fusion")
    datasets: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    for config, path in configs:
        name = _column_name(config, path, set(datasets))
        log(f"{name}: G2D × {len(fusions)} fusions × seeds {seeds}")
        datasets[name] = run_dataset(config, fusions, seeds, out / name, progress=False, log=log, run=run)
    minutes = (time.perf_counter() - start) / 60
    finished = {n: d for n, d in datasets.items() if d["task"] is not None}
    if not finished:
        raise G2DError("no data set's teachers finished: " + "; ".join(
            f"cell {n}: {e}" for d in datasets.values() for n, e in d["failed"].items()))
    table = fusion_table(finished)
    notes = [teachers_line(n, d) for n, d in finished.items()]
    text = (f"# G2D with various fusion modules (layout of the paper's Table 5)\n\n{table}\n\n"
            f"Test accuracy (%) at the epoch selected on validation, mean ± std over seeds {seeds}; "
            f"best per column in bold. Run folders: `{out}/<data set>/seed-<n>`; {minutes:.1f} min in all.\n\n"
            + "\n".join(notes) + "\n")
    io.write_json(out / "results.json", {"seeds": seeds, "datasets": datasets})
    publish(text, out / "tables.md")
    failed = {n: e for d in datasets.values() for n, e in d["failed"].items()}
    for name, error in failed.items():
        print(f"cell {name} failed: {error}", file=sys.stderr)
    return 1 if failed else 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, action="append", default=[],
                   help="also run this experiment config (e.g. real data) as a column named after the "
                        "file; its method becomes g2d and its fusion each one in turn; repeatable")
    p.add_argument("--no-synthetic", action="store_true", help="skip the built-in synthetic column")
    p.add_argument("--fusions", default=None, help="comma-separated fusions (default: every registered one)")
    p.add_argument("--seeds", type=SEEDS, default="0,1", help="comma-separated seeds (default 0,1)")
    p.add_argument("--out", type=OUT_FOLDER, default=None,
                   help="output folder: tables.md, results.json and one run folder per data set and seed "
                        "(default: a new folder under runs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value in every column, e.g. --set student.epochs=5")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N | mps")
    add_threads(p)
    add_executor(p)
    p.add_argument("--quiet", action="store_true", help="no per-run lines on stderr")
    p.set_defaults(handler=cmd_fusion)

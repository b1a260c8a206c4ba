"""``g2d bench table1``: the paper's Table 1 on one command.

Rows: data set × {each modality, fused}; columns: the unimodal teachers and every method of the
paper's comparison (joint training, MSES, MSLR, AGM, PMR, OGM-GE, MLA, MMPareto, ReconBoost, DLMG,
UMT, DI-MML, G2D), then the baselines added since (MMCosine: joint training's loss on the
``mmcosine`` fusion; OPM, Gradient-Blending, CML, Re-learning, sample- and modality-level
modality valuation, MBSD, AMCo, Greedy) and the 2025 methods (Data Remixing alone and composed onto
joint training and G2D, DGL, InfoReg, ARL, AUG). A per-modality cell is the *student's* test accuracy read from its own
per-modality output ``z_s^m`` (the teacher's accuracy in the teachers column); a fused cell is the
student's prediction (for MLA, ReconBoost, DI-MML, ARL and AUG their own test-time fusion). Cells are
mean ± std over the seeds of the test accuracy at the epoch selected on validation; the best cell
of each row is bold. Every method of a data set shares its data, encoders, budget and seeds; MLA
and AUG run with the ``shared`` fusion (their shared head; the papers' setting), the others with the
config's fusion. A method that cannot serve a data set (say, DI-MML with encoders of unequal
widths) gets "n/a" and a footnote with the reason. Without ``--config`` it runs the small built-in
synthetic experiment of ``g2d bench methods``; ``--config FILE`` (repeatable) adds real data sets.
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from g2d.api import MethodSpec, build_student, load_data, make_method, with_method
from g2d.bench.grid import markdown_table, mean_std, publish, run_grid
from g2d.bench.methods import bench_config
from g2d.commands import (add_common, add_executor, default_run_dir, executor_options,
                          parse_overrides, SEEDS, show_progress)
from g2d.config import ExperimentConfig, load_config, replace
from g2d.executors import ExecutorOptions
from g2d.validation import ConfigError, G2DError

SHARED_HEAD = {"model.fusion": {"name": "shared", "options": {}}}


@dataclass(frozen=True)
class Column:
    title: str
    method: str
    overrides: dict[str, Any] = field(default_factory=dict)  # config changes this column needs
    name: str | None = None  # what --methods calls it; default the method (MMCosine: a fusion on joint)

    @property
    def key(self) -> str:
        return self.name or self.method


#: The paper's Table 1 columns after the unimodal teachers, in its order.
COLUMNS = [Column("Joint", "joint"), Column("MSES", "mses"), Column("MSLR", "mslr"), Column("AGM", "agm"),
           Column("PMR", "pmr"), Column("OGM-GE", "ogm-ge"), Column("MLA", "mla", SHARED_HEAD),
           Column("MMPareto", "mmpareto"), Column("ReconBoost", "reconboost"), Column("DLMG", "dlmg"),
           Column("UMT", "umt"), Column("DI-MML", "di-mml"), Column("G2D", "g2d"),
           Column("MMCosine", "joint", {"model.fusion": {"name": "mmcosine", "options": {}}}, "mmcosine"),
           Column("OPM", "opm"), Column("G-Blend", "gblend"), Column("CML", "cml"),
           Column("Re-learning", "relearn"), Column("Sample-val", "valuation"),
           Column("Modality-val", "valuation-modality"), Column("MBSD", "mbsd"),
           Column("AMCo", "amco"), Column("Greedy", "greedy"),
           # the 2025 methods (docs/results/methods-2025.md); AUG boosts on MLA's shared head
           Column("Remix", "remix"), Column("Joint+Remix", "joint+remix"), Column("G2D+Remix", "g2d+remix"),
           Column("DGL", "dgl"), Column("InfoReg", "inforeg"), Column("ARL", "arl"), Column("AUG", "aug", SHARED_HEAD)]


@dataclass
class DatasetResult:
    label: str
    modalities: list[str]
    seeds: list[int]
    summaries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # column title -> per-seed
    teachers: list[dict[str, Any]] = field(default_factory=list)  # per seed: modality -> teacher result
    unavailable: dict[str, str] = field(default_factory=dict)  # column title -> reason
    failed: dict[str, str] = field(default_factory=dict)  # cell name -> error
    wall_s: float = 0.0


def apply_overrides(config: ExperimentConfig, overrides: dict[str, Any], source: str) -> ExperimentConfig:
    return replace(config, overrides, source)


def preflight(config: ExperimentConfig, columns: list[Column], label: str) -> dict[str, str]:
    """Build every column's model and method once (no training); return the ones that fail, with why."""
    splits = load_data(config)
    if splits.info.task != "classification":
        raise ConfigError(f"{label}: table1 compares classification methods by accuracy; this data set's task "
                          f"is {splits.info.task!r}")
    failed = {}
    for col in columns:
        try:
            cfg = with_method(apply_overrides(config, col.overrides, label), MethodSpec.parse(col.method))
            make_method(cfg, splits, build_student(cfg, splits))
        except (ConfigError, G2DError, ValueError) as err:
            failed[col.title] = str(err).splitlines()[0]
    return failed


def run_dataset(config: ExperimentConfig, label: str, columns: list[Column], seeds: list[int], out: Path,
                progress: bool, run: ExecutorOptions | None = None) -> DatasetResult:
    """One grid per distinct set of column overrides (MLA's shared head: its own grid)."""
    start = time.perf_counter()
    result = DatasetResult(label, list(config.modalities), seeds)
    result.unavailable = preflight(config, columns, label)
    runnable = [c for c in columns if c.title not in result.unavailable]
    groups: dict[str, list[Column]] = {}
    for col in runnable:
        groups.setdefault(json.dumps(col.overrides, sort_keys=True), []).append(col)
    for i, (key, cols) in enumerate(groups.items()):
        cfg = apply_overrides(config, json.loads(key), label)
        folder = out / label / ("base" if key == "{}" else f"variant-{i}")
        summaries = run_grid(cfg, [MethodSpec.parse(c.method) for c in cols], seeds, folder, progress=progress,
                             run=run)
        result.failed.update({n: e for s in summaries for n, e in s["failed"].items()})
        for col in cols:
            runs = [s["methods"][col.method] for s in summaries if col.method in s["methods"]]
            if len(runs) == len(seeds):
                result.summaries[col.title] = runs
            else:
                result.unavailable[col.title] = f"failed in {len(seeds) - len(runs)} of {len(seeds)} seeds"
        if not result.teachers and all(s["teachers"] for s in summaries):
            result.teachers = [s["teachers"] for s in summaries]
    result.wall_s = time.perf_counter() - start
    return result


def _cells(runs: list[dict[str, Any]], modality: str | None) -> str:
    values = [r["test"]["accuracy"] if modality is None else r["test"]["modality_accuracy"][modality] for r in runs]
    return mean_std(values)


def table_rows(results: list[DatasetResult], columns: list[Column]) -> list[list[str]]:
    rows = []
    for res in results:
        for i, modality in enumerate(res.modalities + [None]):
            name = modality if modality is not None else "fused"
            teacher = "–" if modality is None or not res.teachers else \
                mean_std([t[modality]["test"]["accuracy"] for t in res.teachers])
            cells = ["n/a" if c.title in res.unavailable else _cells(res.summaries[c.title], modality) for c in columns]
            rows.append([res.label if i == 0 else "", name, teacher] + cells)
    return rows


def render(results: list[DatasetResult], columns: list[Column], command: str, total_s: float) -> str:
    header = ["Data set", "Modality", "Unimodal teachers"] + [c.title for c in columns]
    seeds = results[0].seeds
    lines = [f"<!-- written by: {command} -->", "",
             "### Test accuracy (%) per modality and fused (layout of the paper's Table 1)", "",
             f"Mean ± std over seeds {seeds}; model selected on validation. Per-modality rows score the "
             "student's own per-modality output z_s^m (the teachers column: the unimodal teacher); "
             "fused rows the student's prediction. Best of each row in bold. MLA and AUG use the `shared` "
             "fusion (their shared head), MMCosine the `mmcosine` fusion (its cosine head, with joint training's "
             "loss), every other method the config's fusion.", "",
             markdown_table(header, table_rows(results, columns), bold_best=True), ""]
    for res in results:
        for title, reason in res.unavailable.items():
            lines.append(f"- n/a ({res.label}, {title}): {reason}")
        wall = {c.title: statistics.mean(r["wall_s"] for r in res.summaries[c.title])
                for c in columns if c.title in res.summaries}
        timing = ", ".join(f"{t} {s:.0f}s" for t, s in wall.items())
        lines.append(f"- {res.label}: {res.wall_s / 60:.1f} min for {len(res.seeds)} seeds "
                     f"(teachers included); mean training time per student: {timing}.")
    lines.append(f"- Total wall time: {total_s / 60:.1f} min.")
    return "\n".join(lines) + "\n"


def command_line(args: argparse.Namespace, out: Path) -> str:
    parts = ["g2d", "bench", "table1", "--seeds", ",".join(map(str, args.seeds))]
    if args.threads != 1:
        parts += ["--threads", str(args.threads)]
    if args.methods != ",".join(c.key for c in COLUMNS):
        parts += ["--methods", args.methods]
    for path in args.configs:
        parts += ["--config", str(path)]
    if args.synthetic and args.configs:
        parts.append("--synthetic")
    for pair in args.overrides:
        parts += ["--set", pair]
    return " ".join(shlex.quote(p) for p in parts + ["--out", str(out)])


def parse_list(text: str, what: str) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise ConfigError(f"--{what}: expected at least one value")
    return items


def cmd_table1(args: argparse.Namespace) -> int:
    run = executor_options(args)
    overrides = parse_overrides(args.overrides, args.device)
    seeds = args.seeds
    known = {c.key: c for c in COLUMNS}
    unknown = [m for m in parse_list(args.methods, "methods") if m not in known]
    if unknown:
        raise ConfigError(f"--methods: unknown {unknown}; expected some of {list(known)}")
    wanted = set(parse_list(args.methods, "methods"))
    columns = [c for c in COLUMNS if c.key in wanted]
    datasets: list[tuple[str, ExperimentConfig]] = []
    if args.synthetic or not args.configs:
        datasets.append(("synthetic", bench_config(None, overrides)))
    datasets += [(path.stem, load_config(path, overrides)) for path in args.configs]
    out = args.out or default_run_dir("bench-table1")
    start = time.perf_counter()
    results = []
    for label, config in datasets:
        print(f"{label}: {len(columns)} methods x {len(seeds)} seeds -> {out / label}", file=sys.stderr)
        results.append(run_dataset(config, label, columns, seeds, Path(out), show_progress(args) and run.workers == 1,
                                   run))
    text = render(results, columns, command_line(args, Path(out)), time.perf_counter() - start)
    publish(text, Path(out) / "tables.md")
    failed = {n: e for r in results for n, e in r.failed.items()}
    for name, error in failed.items():
        print(f"cell {name} failed: {error}", file=sys.stderr)
    return 1 if failed else 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", dest="configs", type=Path, action="append", default=[],
                   help="experiment YAML of a data set (repeatable); default: the built-in synthetic experiment")
    p.add_argument("--synthetic", action="store_true",
                   help="also run the built-in synthetic experiment when --config is given")
    p.add_argument("--seeds", type=SEEDS, default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--methods", default=",".join(c.key for c in COLUMNS),
                   help="comma-separated subset of the columns (method names; default: all)")
    add_executor(p)
    add_common(p, config=False)
    p.set_defaults(handler=cmd_table1)

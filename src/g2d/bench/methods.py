"""``g2d bench methods``: a list of methods × seeds on one config (teachers trained once per seed,
every method with the same encoders, fusion, data and budget), written as markdown tables:

- the SMP ablation in the layout of the paper's Table 4 (Joint-Train / UMT / G2D loss, each
  without and with SMP: ``joint``/``joint+smp``, ``umt``/``umt+smp``, ``g2d-loss``/``g2d-loss+smp``,
  the paper's loss on both sides — ``g2d`` itself defaults to per-modality distillation);
- the suppression table in the layout of Table 6 (partial ``g2d-partial`` vs complete
  ``g2d-loss+smp``, the same loss);
- every method run, fused and per-modality test metric beside the unimodal teachers.

Cells are mean ± std over the seeds of the test metric at the epoch selected on validation
(accuracy in %, or MAE for regression). Without ``--config`` it runs a small built-in synthetic
experiment that takes a few minutes on a laptop CPU.
"""
from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from pathlib import Path
from typing import Any

from g2d import io
from g2d.api import MethodSpec
from g2d.bench.grid import complete, markdown_table, mean_std, publish, report_failures, run_grid
from g2d.commands import (add_common, add_executor, default_run_dir, executor_options,
                          parse_overrides, SEEDS, show_progress)
from g2d.config import ExperimentConfig, load_config, parse_config, set_dotted
from g2d.demo import demo_config
from g2d.validation import ConfigError, G2DError

DEFAULT_METHODS = ["joint", "joint+smp", "umt", "umt+smp", "g2d-loss", "g2d-loss+smp", "g2d", "g2d-partial",
                   "ogm-ge", "agm", "pmr", "mses", "ume",
                   # the 2025 methods (docs/results/methods-2025.md), Data Remixing also composed onto joint and G2D
                   "remix", "joint+remix", "g2d+remix", "dgl", "inforeg", "arl", "aug"]

def default_config_raw() -> dict[str, Any]:
    """The built-in experiment: the demo's (synthetic data, one fast-to-fit strong and one slow
    weak modality, 30 epochs), without per-epoch analyses."""
    raw = demo_config().model_dump(mode="json")
    raw["analysis"]["track"] = False
    raw["method"]["options"]["phases"] = None  # half the epochs, however many --set asks for
    raw["device"] = "auto"
    return raw


#: Paper Table 4: (row label, method without SMP, method with SMP).
TABLE4 = [("Joint-Train", "joint", "joint+smp"), ("UMT", "umt", "umt+smp"),
          ("G2D loss", "g2d-loss", "g2d-loss+smp")]
#: Paper Table 6: (suppression type, method).
TABLE6 = [("Partial", "g2d-partial"), ("Complete", "g2d-loss+smp")]


def bench_config(path: Path | None, overrides: dict[str, Any]) -> ExperimentConfig:
    """The ``--config`` file, or the built-in synthetic experiment, with ``--set`` overrides."""
    if path is not None:
        return load_config(path, overrides)
    raw = default_config_raw()
    for key, value in overrides.items():
        set_dotted(raw, key, value)
    return parse_config(raw, "built-in bench config")


def _metric(summaries: list[dict[str, Any]]) -> tuple[str, float, int]:
    """(metric, scale, digits): accuracy in % for classification, MAE for regression."""
    return ("accuracy", 100.0, 1) if summaries[0]["task"] == "classification" else ("mae", 1.0, 3)


def _cell(summaries: list[dict[str, Any]], label: str, modality: str | None = None) -> str:
    metric, scale, digits = _metric(summaries)
    if any(label not in s["methods"] for s in summaries):
        return "–"
    tests = [s["methods"][label]["test"] for s in summaries]
    values = [t[metric] if modality is None else t[f"modality_{metric}"][modality] for t in tests]
    return mean_std(values, scale, digits)


def _teacher_cell(summaries: list[dict[str, Any]], modality: str) -> str:
    metric, scale, digits = _metric(summaries)
    return mean_std([s["teachers"][modality]["test"][metric] for s in summaries], scale, digits)


def ablation_tables(summaries: list[dict[str, Any]], dataset: str) -> str:
    """Markdown: the Table 4 and Table 6 layouts and a table of every method run."""
    metric, _, _ = _metric(summaries)
    higher = metric == "accuracy"
    unit = "test accuracy (%)" if higher else "test MAE (lower is better)"
    seeds = [s["seed"] for s in summaries]
    note = f"{unit}, mean ± std over seeds {seeds}; model selected on validation."
    table4 = markdown_table(["Method", "SMP", dataset], [
        row for name, without, with_smp in TABLE4
        for row in ([name, "✗", _cell(summaries, without)], ["", "✓", _cell(summaries, with_smp)])])
    table6 = markdown_table(["Type", dataset], [[name, _cell(summaries, label)] for name, label in TABLE6])
    modalities = summaries[0]["modalities"]
    labels = list(dict.fromkeys(label for s in summaries for label in s["methods"]))
    rows = [["unimodal teachers", "–"] + [_teacher_cell(summaries, m) for m in modalities]]
    rows += [[label, _cell(summaries, label)] + [_cell(summaries, label, m) for m in modalities] for label in labels]
    overview = markdown_table(["Method", "fused"] + [f"{m} (z_s^m)" for m in modalities], rows)
    wall = {label: statistics.mean(s["methods"][label]["wall_s"] for s in summaries if label in s["methods"])
            for label in labels}
    timing = ", ".join(f"{label} {seconds:.0f}s" for label, seconds in wall.items())
    return "\n\n".join([
        f"### SMP ablation (layout of the paper's Table 4) — {dataset}", note, table4,
        f"### Partial vs complete suppression (layout of the paper's Table 6) — {dataset}", note, table6,
        f"### Every method — {dataset}",
        note + " Per-modality columns score each modality's own output z_s^m.", overview,
        f"Mean training time per student: {timing}."]) + "\n"


def command_line(args: argparse.Namespace, out: Path) -> str:
    """The command that reproduces this bench (recorded at the top of tables.md)."""
    parts = ["g2d", "bench", "methods", "--methods", args.methods, "--seeds", ",".join(map(str, args.seeds))]
    if args.config is not None:
        parts += ["--config", str(args.config)]
    for pair in args.overrides:
        parts += ["--set", pair]
    if args.label:
        parts += ["--label", args.label]
    return " ".join(shlex.quote(p) for p in parts + ["--out", str(out)])


def cmd_methods(args: argparse.Namespace) -> int:
    overrides = parse_overrides(args.overrides, args.device)
    config = bench_config(args.config, overrides)
    labels = [m.strip() for m in args.methods.split(",") if m.strip()]
    seeds = args.seeds
    if not labels:
        raise ConfigError("--methods: expected at least one method, e.g. joint,g2d")
    out = args.out or default_run_dir("bench-methods")
    dataset = args.label or config.data.name
    print(f"{len(labels)} methods x {len(seeds)} seeds on {dataset} -> {out}", file=sys.stderr)
    run = executor_options(args)
    summaries = run_grid(config, [MethodSpec.parse(m) for m in labels], seeds, out,
                         progress=show_progress(args) and run.workers == 1, run=run)
    done = complete(summaries)
    if not done:
        report_failures(summaries)
        raise G2DError(f"no seed's teachers finished; nothing to tabulate (cell results in {out / 'cells'})")
    command = command_line(args, out)
    text = f"<!-- written by: {command} -->\n\n" + ablation_tables(done, dataset)
    io.write_text(Path(out) / "config.yaml", config.to_yaml())
    publish(text, Path(out) / "tables.md")
    return report_failures(summaries)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                   help="comma-separated methods; 'a+b' composes modulator b onto method a "
                        f"(default: {','.join(DEFAULT_METHODS)})")
    p.add_argument("--seeds", type=SEEDS, default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--config", type=Path, default=None,
                   help="experiment YAML (default: a small built-in synthetic experiment)")
    p.add_argument("--label", default=None, help="column title of the tables (default: the data set's name)")
    add_common(p, config=False)
    add_executor(p)
    p.set_defaults(handler=cmd_methods)

"""Run methods × seeds on one config and tabulate mean ± std (shared by every benchmark).

A grid is two rounds of independent cells (:mod:`g2d.executors`): one ``seed-<n>.teachers`` cell
per seed (teachers and their output cache, in ``OUT/seed-<n>``), then one ``seed-<n>.<method>``
cell per seed and method (a student trained on that seed's teachers). Finished cells are not
recomputed when the command runs again; a failed cell is reported and the others still run.
"""
from __future__ import annotations

import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

from g2d import io
from g2d.api import MethodSpec, cache_teacher_outputs, load_data, train_student, train_teachers, with_method
from g2d.config import ExperimentConfig, parse_config
from g2d.executors import Cell, ExecutorOptions, GridResult


def run_grid(config: ExperimentConfig, methods: list[MethodSpec], seeds: list[int], out_root: str | Path,
             progress: bool = False, run: ExecutorOptions | None = None) -> list[dict[str, Any]]:
    """One run folder per seed under ``out_root`` (``seed-<n>``); returns their summaries (the
    shape of :func:`g2d.api.run_methods`'s, plus ``failed``: cell name -> error, for cells that
    failed). ``run`` says where the cells run (default: one after another in this process)."""
    variants = {spec.label: partial(with_method, spec=spec) for spec in methods}
    return run_variants(config, variants, seeds, out_root, progress, run)


def run_variants(config: ExperimentConfig, variants: dict[str, Callable[[ExperimentConfig], ExperimentConfig]],
                 seeds: list[int], out_root: str | Path, progress: bool = False,
                 run: ExecutorOptions | None = None) -> list[dict[str, Any]]:
    """Like :func:`run_grid`, with one student per ``variants`` entry: label -> a function that
    turns the seed's config into that student's (method, fusion, ...); the teachers are the seed
    config's."""
    run = run or ExecutorOptions()
    out_root = Path(out_root)
    configs = {s: _with_seed(config, s) for s in seeds}
    students = {(s, label): make(configs[s]) for s in seeds for label, make in variants.items()}  # validate first
    teacher_cells = [Cell(f"seed-{s}.teachers", {"config": configs[s].model_dump(mode="json"),
                                                 "run": str(out_root / f"seed-{s}"), "progress": progress})
                     for s in seeds]
    with run.session():  # Ray: one instance for both rounds
        teachers = run.run(teacher_cells, teacher_cell, out_root)
        student_cells = [Cell(f"seed-{s}.{label}", {"config": cfg.model_dump(mode="json"),
                                                    "run": str(out_root / f"seed-{s}"), "label": label,
                                                    "progress": progress})
                         for (s, label), cfg in students.items() if f"seed-{s}.teachers" in teachers.results]
        trained = run.run(student_cells, student_cell, out_root)
    summaries = [_seed_summary(s, list(variants), teachers, trained, out_root / f"seed-{s}") for s in seeds]
    io.write_json(out_root / "grid.json", summaries)
    return summaries


def _with_seed(config: ExperimentConfig, seed: int) -> ExperimentConfig:
    raw = config.model_dump(mode="json")
    raw["seed"] = seed
    return parse_config(raw, f"grid config (seed {seed})")


def teacher_cell(cell: Cell) -> dict[str, Any]:
    """Worker: train one seed's teachers and build their output cache; their val/test metrics."""
    config, run = parse_config(cell.payload["config"], cell.name), Path(cell.payload["run"])
    start = time.perf_counter()
    splits = load_data(config)
    # the grid decides which cells run: a cell that runs replaces what its folder holds (staged: the old
    # teachers stay until the new ones have finished)
    teachers = train_teachers(config, run, splits, progress=cell.payload["progress"], overwrite=True)
    if not splits.train.random_transform:  # (re)build: a cache left in the folder may be stale
        cache_teacher_outputs(config, run, splits, teachers, overwrite=True)
    summary = {m: {"test": t.card["test"], "val": t.card["val"], "selected_epoch": t.card["selected_epoch"]}
               for m, t in teachers.items()}
    return {"teachers": summary, "modalities": list(splits.info.modalities), "task": splits.info.task,
            "wall_s": round(time.perf_counter() - start, 2)}


def student_cell(cell: Cell) -> dict[str, Any]:
    """Worker: train one student on its seed's teachers; its test/val metrics at the selected epoch."""
    config, run = parse_config(cell.payload["config"], cell.name), Path(cell.payload["run"])
    start = time.perf_counter()
    student = train_student(config, run, progress=cell.payload["progress"], name=cell.payload["label"],
                            overwrite=True)
    return {"test": student.result.test, "val": student.result.val, "selected_epoch": student.result.best_epoch,
            "wall_s": round(time.perf_counter() - start, 2), "notes": student.notes}


def _seed_summary(seed: int, labels: list[str], teachers: GridResult, students: GridResult,
                  folder: Path) -> dict[str, Any]:
    """One seed's summary (``summary.json`` of its folder), from its cells' results."""
    name = f"seed-{seed}.teachers"
    failed = {n: e for n, e in {**teachers.failed, **students.failed}.items() if n.startswith(f"seed-{seed}.")}
    if name not in teachers.results:
        return {"seed": seed, "methods": {}, "teachers": {}, "failed": failed}
    base = teachers.results[name]
    summary = {"methods": {}, "teachers": base["teachers"], "seed": seed, "modalities": base["modalities"],
               "task": base["task"], "teachers_wall_s": base["wall_s"]}
    for label in labels:
        result = students.results.get(f"seed-{seed}.{label}")
        if result is not None:
            summary["methods"][label] = result
    summary["failed"] = failed
    io.write_json(folder / "summary.json", summary)
    return summary


def report_failures(summaries: list[dict[str, Any]]) -> int:
    """Print every failed cell by name on stderr; the command's exit status (1 when any failed)."""
    failed = {n: e for s in summaries for n, e in s.get("failed", {}).items()}
    for name, error in failed.items():
        print(f"cell {name} failed: {error}", file=sys.stderr)
    return 1 if failed else 0


def complete(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The summaries whose teachers finished (the tables' input)."""
    return [s for s in summaries if "task" in s]


def publish(text: str, path: Path) -> None:
    """Write a benchmark's markdown to ``path`` and show it; the path goes to stderr."""
    io.write_text(path, text)
    print(text)
    print(f"written {path}", file=sys.stderr)


def mean_std(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    """``"83.4 ± 1.2"`` (percent by default); a single value has no spread."""
    vals = [v * scale for v in values]
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def markdown_table(header: list[str], rows: list[list[str]], bold_best: bool = False) -> str:
    """A GitHub markdown table; with ``bold_best`` the largest number in each row (after the first
    column, by the mean before ±) is bold."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = list(row)
        if bold_best:
            nums = [(_lead(c), i) for i, c in enumerate(cells) if i > 0 and _lead(c) is not None]
            if nums:
                best = max(n for n, _ in nums)
                cells = [f"**{c}**" if i > 0 and _lead(c) == best else c for i, c in enumerate(cells)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _lead(cell: str) -> float | None:
    try:
        return float(cell.split("±")[0].strip())
    except ValueError:
        return None

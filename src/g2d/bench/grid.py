"""Run methods × seeds on one config and tabulate mean ± std (shared by every benchmark)."""
from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any, Callable

from g2d import io
from g2d.api import MethodSpec, run_methods
from g2d.config import ExperimentConfig, parse_config


def run_grid(config: ExperimentConfig, methods: list[MethodSpec], seeds: list[int], out_root: str | Path,
             progress: bool = False) -> list[dict[str, Any]]:
    """One run folder per seed under ``out_root`` (``seed-<n>``); returns their summaries."""
    summaries = []
    for seed in seeds:
        raw = config.model_dump(mode="json")
        raw["seed"] = seed
        summaries.append(run_methods(parse_config(raw), Path(out_root) / f"seed-{seed}", methods,
                                     progress=progress))
    io.write_json(Path(out_root) / "grid.json", summaries)
    return summaries


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


def collect(summaries: list[dict[str, Any]], getter: Callable[[dict[str, Any]], float]) -> list[float]:
    return [getter(s) for s in summaries]


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

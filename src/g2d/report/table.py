"""Plain-text tables of a run's summary: fused and per-modality test metrics beside the teachers."""
from __future__ import annotations

from typing import Any


def format_summary(summary: dict[str, Any]) -> str:
    """Rows: fused, then each modality; columns: teacher, then each method."""
    methods = list(summary["methods"])
    first = summary["methods"][methods[0]]["test"]
    key = "accuracy" if "accuracy" in first else "mae"
    per_key = f"modality_{key}"
    modalities = list(first[per_key])
    header = ["test " + key, "teacher"] + methods
    rows = [["fused", "-"] + [_fmt(summary["methods"][m]["test"][key]) for m in methods]]
    for mod in modalities:
        teacher = summary["teachers"].get(mod, {}).get("test", {}).get(key)
        rows.append([mod, _fmt(teacher)] + [_fmt(summary["methods"][m]["test"][per_key][mod]) for m in methods])
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def metric_value(result: dict[str, Any], metric: str, modality: str | None = None) -> float | None:
    """``metric`` of one evaluation result: fused, or through ``modality``'s own output ``z_s^m``."""
    if modality is None:
        return result.get(metric)
    per = result.get(f"modality_{metric}")
    if per is not None:
        return per.get(modality)
    return result.get("modality_scores", {}).get(modality, {}).get(metric)


def results_grid(summary: dict[str, Any], metric: str, methods: list[str] | None = None,
                 modalities: list[str] | None = None) -> tuple[list[str], list[list[Any]]]:
    """The paper's results layout as numbers: header ``[row, "teacher", *methods]``; rows ``fused``
    then each modality (the teacher column holds that modality's unimodal teacher)."""
    methods = methods or list(summary["methods"])
    if modalities is None:
        first = summary["methods"][methods[0]]["test"]
        modalities = list(first.get("modality_accuracy") or first.get("modality_mae") or {})
    tests = {m: summary["methods"][m]["test"] for m in methods}
    rows: list[list[Any]] = [["fused", None] + [metric_value(tests[m], metric) for m in methods]]
    for mod in modalities:
        teacher = summary.get("teachers", {}).get(mod, {}).get("test", {}).get(metric)
        rows.append([mod, teacher] + [metric_value(tests[m], metric, mod) for m in methods])
    return ["", "teacher"] + methods, rows

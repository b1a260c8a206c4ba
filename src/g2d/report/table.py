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

"""Analyses read back from a training log (``metrics.jsonl`` rows), without the model."""
from __future__ import annotations

from typing import Any


def smp_schedule(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Contiguous epochs in which not every encoder learnt in every step (an SMP phase), with the
    modality that learnt most: ``[{"start", "end" (inclusive), "modality", "share"}, …]``.
    Empty for runs without prioritisation (all ``active_share`` = 1)."""
    spans: list[dict[str, Any]] = []
    for row in history:
        share = row.get("active_share") or {}
        if not share or all(v >= 1.0 - 1e-9 for v in share.values()):
            continue
        top = max(share, key=lambda m: share[m])
        last = spans[-1] if spans else None
        if last and last["modality"] == top and last["end"] == row["epoch"] - 1:
            last["end"] = row["epoch"]
            last["shares"].append(share[top])
        else:
            spans.append({"start": row["epoch"], "end": row["epoch"], "modality": top, "shares": [share[top]]})
    return [{"start": s["start"], "end": s["end"], "modality": s["modality"],
             "share": sum(s["shares"]) / len(s["shares"])} for s in spans]


def series(history: list[dict[str, Any]], *path: str) -> tuple[list[int], list[float]]:
    """Epochs and values of ``row[path[0]][path[1]]…`` for the rows that have it."""
    epochs, values = [], []
    for row in history:
        node: Any = row
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, (int, float)) and not isinstance(node, bool):
            epochs.append(int(row["epoch"]))
            values.append(float(node))
    return epochs, values

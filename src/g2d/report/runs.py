"""Read a run folder back for reporting: test results, training logs, configs, analyses."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from g2d import io
from g2d.validation import G2DError
from g2d.paths import require_folder


@dataclass
class RunRecord:
    """Everything the report shows about one run folder."""

    path: Path
    label: str
    task: str
    modalities: list[str]
    data: dict[str, Any]
    #: ``{"methods": {name: {"test", "val", "selected_epoch"}}, "teachers": {modality: {...}}}``
    summary: dict[str, Any]
    histories: dict[str, list[dict[str, Any]]]  # student name -> metrics.jsonl rows
    teacher_histories: dict[str, list[dict[str, Any]]]
    configs: dict[str, dict[str, Any]]  # student name -> resolved config
    posthoc: dict[str, Any] = field(default_factory=dict)  # student name -> analyse_run() result
    diagnosis: dict[str, Any] | None = None  # diagnosis.json of `g2d diagnose`, when the run has one
    notes: list[str] = field(default_factory=list)

    @property
    def methods(self) -> list[str]:
        return list(self.summary["methods"])

    @property
    def key_metric(self) -> str:
        return "accuracy" if self.task == "classification" else "mae"

    def config_value(self, method: str, *path: str, default: Any = None) -> Any:
        node: Any = self.configs.get(method, {})
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node


def load_run(path: str | Path, label: str | None = None) -> RunRecord:
    """Read ``path``; test results come from ``summary.json`` and, for students it does not list,
    from their ``result.json`` (the test metrics at the selected epoch)."""
    path = require_folder(path, "run folder")
    student_dirs = sorted(p for p in (path / "students").glob("*") if (p / "result.json").exists())
    if not student_dirs:
        raise G2DError(f"{path}: no trained students (expected students/<method>/result.json); "
                       f"train one with `g2d train` or `g2d bench`")
    stored = io.read_json(path / "summary.json") if (path / "summary.json").exists() else {}
    summary: dict[str, Any] = {"methods": {}, "teachers": dict(stored.get("teachers", {}))}
    for d in student_dirs:
        if d.name in stored.get("methods", {}):
            summary["methods"][d.name] = stored["methods"][d.name]
        else:
            result = io.read_json(d / "result.json")
            summary["methods"][d.name] = {"test": result["test"], "val": result["val"],
                                          "selected_epoch": result["selected_epoch"]}
    for card in sorted((path / "teachers").glob("*/card.json")):
        c = io.read_json(card)
        summary["teachers"].setdefault(c["modality"], {"test": c["test"], "val": c["val"],
                                                       "selected_epoch": c["selected_epoch"]})
    data = io.read_json(path / "data.json") if (path / "data.json").exists() else {}
    first = next(iter(summary["methods"].values()))["test"]
    task = data.get("task") or ("classification" if "accuracy" in first else "regression")
    modalities = data.get("modalities") or list(first.get("modality_accuracy") or first.get("modality_mae") or {})
    configs = {d.name: yaml.safe_load((d / "config.yaml").read_text()) if (d / "config.yaml").exists() else {}
               for d in student_dirs}
    return RunRecord(
        path=path, label=label or path.name, task=task, modalities=list(modalities), data=data,
        summary=summary,
        histories={d.name: io.read_jsonl(d / "metrics.jsonl") for d in student_dirs},
        teacher_histories={p.parent.name: io.read_jsonl(p) for p in sorted((path / "teachers").glob("*/metrics.jsonl"))},
        configs=configs,
        diagnosis=io.read_json(path / "diagnosis.json") if (path / "diagnosis.json").exists() else None)


def unique_labels(paths: list[Path]) -> list[str]:
    """Folder names, with parents prepended until every label is distinct."""
    paths = [Path(p).resolve() for p in paths]
    depth = 1
    while True:
        labels = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(labels)) == len(labels) or depth >= max(len(p.parts) for p in paths):
            return labels
        depth += 1

"""Analyses of a finished run at each student's selected checkpoint, on the test split:
alignment, confidence ratio, modality gap with its 2-D projection, missing-modality curve.

Results are stored in ``RUN/analysis/<student>.json`` with a key (weights hash, settings); a
later call with the same key reads them back instead of recomputing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from g2d import io
from g2d.api import build_student, load_data, load_teachers, restore_method
from g2d.analysis.missing import missing_modality_curve
from g2d.analysis.representations import SplitTeacherOutputs, representation_scores, teacher_outputs, weak_modality
from g2d.config import ExperimentConfig, load_config, replace
from g2d.runtime import resolve_device
from g2d.io import file_sha256
from g2d.validation import G2DError

FORMAT = 1


def student_dirs(run_dir: Path) -> list[Path]:
    return sorted(p for p in (Path(run_dir) / "students").glob("*") if (p / "model.safetensors").exists())


def _key(student_dir: Path, teacher_dirs: list[Path], rates: Sequence[float], seed: int, keep: int) -> dict:
    return {"format": FORMAT, "weights": file_sha256(student_dir / "model.safetensors"),
            "teachers": {p.name: file_sha256(p / "model.safetensors") for p in teacher_dirs},
            "rates": [float(r) for r in rates], "seed": int(seed), "keep": int(keep)}


def analyse_run(run_dir: str | Path, *, rates: Sequence[float] | None = None, seed: int | None = None,
                keep: int | None = None, device: str | None = None, refresh: bool = False) -> dict[str, Any]:
    """``{student: {"test": representation scores, "missing": curve, "weak_modality"}}`` for every
    trained student of ``run_dir``. Settings default to each student's ``analysis`` config."""
    run_dir = Path(run_dir)
    students = student_dirs(run_dir)
    if not students:
        raise G2DError(f"{run_dir}: no trained students (expected students/<method>/model.safetensors)")
    teacher_dirs = sorted(p for p in (run_dir / "teachers").glob("*") if (p / "model.safetensors").exists())
    results: dict[str, Any] = {}
    splits, outputs, data_key = None, None, None
    for student_dir in students:
        config = load_config(student_dir / "config.yaml")
        if device is not None:
            config = replace(config, {"device": device}, str(student_dir / "config.yaml"))
        opts = config.analysis
        r, s, k = (opts.missing_rates if rates is None else rates, opts.missing_seed if seed is None else seed,
                   opts.projection_samples if keep is None else keep)
        key = _key(student_dir, teacher_dirs, r, s, k)
        cached = run_dir / "analysis" / f"{student_dir.name}.json"
        if cached.exists() and not refresh:
            stored = io.read_json(cached)
            if stored.get("key") == key:
                results[student_dir.name] = stored["result"]
                continue
        dev = resolve_device(config.device)
        this_data = (config.data.name, repr(config.data.options))
        if splits is None or this_data != data_key:
            splits, data_key = load_data(config), this_data
            outputs = _teacher_outputs(config, splits, run_dir, teacher_dirs, dev)
        model = build_student(config, splits)
        io.load_weights(student_dir / "model.safetensors", model)
        restore_method(config, splits, model, student_dir)
        model.to(dev)
        batch = config.data.eval_batch_size
        result = {"split": "test",
                  "test": representation_scores(model, splits.test, dev, outputs[0] if outputs else None,
                                                keep=k, batch_size=batch, precision=config.precision),
                  "missing": missing_modality_curve(model, splits.test, dev, r, s, batch, config.precision),
                  "weak_modality": outputs[1] if outputs else None}
        io.write_json(cached, {"key": key, "result": result})
        results[student_dir.name] = result
    return results


def _teacher_outputs(config: ExperimentConfig, splits, run_dir: Path, teacher_dirs: list[Path],
                     device: torch.device) -> tuple[SplitTeacherOutputs, str | None] | None:
    """Teachers' test-split outputs and the weak modality, or None when the run has no teachers."""
    if {p.name for p in teacher_dirs} != set(splits.info.modalities):
        return None
    teachers = load_teachers(config, splits, run_dir / "teachers")
    outputs = teacher_outputs(teachers, splits.test, device, config.data.eval_batch_size, config.precision)
    return outputs, weak_modality({m: t.card for m, t in teachers.items()})

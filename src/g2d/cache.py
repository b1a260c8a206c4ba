"""Teacher-output cache: every training sample's teacher logits and features, computed once.

Layout of a cache folder: ``manifest.json`` (what the cache was made from) and, per modality,
``<modality>.logits.npy`` (N, C) and ``<modality>.features.npy`` (N, D), float32. Arrays are
memory-mapped, so a step reads only its batch's rows and a VGGSound-sized cache needs little RAM.
The manifest records the teachers' weight hashes, the train split's fingerprint and the input
transform; :func:`open_cache` refuses a cache made from anything else and says what changed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from g2d import io
from g2d.data.base import Batch, MultimodalDataset
from g2d.objectives import TeacherOutputs
from g2d.runtime import autocast
from g2d.teachers import Teacher
from g2d.trainer import make_loader
from g2d.validation import CacheMismatchError, G2DError

FORMAT_VERSION = 1


def cache_identity(teachers: dict[str, Teacher], train: MultimodalDataset) -> dict[str, Any]:
    """What a cache's contents depend on; any difference makes it invalid."""
    return {"format": FORMAT_VERSION,
            "teachers": {m: t.card["weights_sha256"] for m, t in teachers.items()},
            "train_fingerprint": train.fingerprint(),
            "transform": train.transform_description,
            "num_samples": len(train)}


@torch.no_grad()
def build_cache(teachers: dict[str, Teacher], train: MultimodalDataset, out_dir: str | Path,
                device: torch.device, batch_size: int = 256, precision: str = "fp32",
                num_workers: int = 0) -> Path:
    """Run each teacher once over the train split (eval mode, in index order) and store outputs."""
    if train.random_transform:
        raise G2DError("the training transform is random (augmentation): cached teacher outputs would "
                       "not match what the student sees; teachers run online instead")
    out_dir = Path(out_dir)
    n = len(train)
    arrays: dict[str, np.ndarray] = {}
    models = {m: t.model.to(device).eval() for m, t in teachers.items()}
    for batch in make_loader(train, batch_size, shuffle=False, num_workers=num_workers):
        batch = batch.to(device)
        idx = batch.index.cpu().numpy()
        with autocast(device, precision):
            for m, model in models.items():
                out = model({m: batch.inputs[m]}, masks=batch.masks)
                for kind, value in (("logits", out.logits), ("features", out.features[m])):
                    key = f"{m}.{kind}"
                    if key not in arrays:
                        arrays[key] = np.zeros((n, value.shape[1]), dtype=np.float32)
                    arrays[key][idx] = value.float().cpu().numpy()
    manifest = {**cache_identity(teachers, train), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "shapes": {k: list(v.shape) for k, v in arrays.items()}}
    _write_folder_atomically(out_dir, arrays, manifest)
    return out_dir


def _write_folder_atomically(out_dir: Path, arrays: dict[str, np.ndarray], manifest: dict[str, Any]) -> None:
    with io.staged_folder(out_dir) as tmp:
        for key, arr in arrays.items():
            np.save(tmp / f"{key}.npy", arr)
        io.write_json(tmp / "manifest.json", manifest)


@dataclass
class TeacherCache:
    """Memory-mapped teacher outputs; :meth:`lookup` gathers a batch's rows by sample index."""

    path: Path
    logits: dict[str, np.ndarray]
    features: dict[str, np.ndarray]
    device: torch.device

    def lookup(self, batch: Batch) -> TeacherOutputs:
        idx = batch.index.cpu().numpy()
        pin = self.device.type == "cuda"
        take = lambda a: _to(torch.from_numpy(np.ascontiguousarray(a[idx])), self.device, pin)  # noqa: E731
        return TeacherOutputs({m: take(a) for m, a in self.logits.items()},
                              {m: take(a) for m, a in self.features.items()})


def _to(t: torch.Tensor, device: torch.device, pin: bool) -> torch.Tensor:
    return (t.pin_memory() if pin else t).to(device, non_blocking=pin)


def open_cache(path: str | Path, teachers: dict[str, Teacher], train: MultimodalDataset,
               device: torch.device) -> TeacherCache:
    """Open a cache, checking it was made from exactly these teachers, data and transform."""
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        raise G2DError(f"no teacher-output cache at {path} (missing manifest.json); run `g2d cache` first")
    manifest = io.read_json(manifest_path)
    expected = cache_identity(teachers, train)
    changes = describe_changes(manifest, expected)
    if changes:
        raise CacheMismatchError(f"teacher-output cache {path} does not match this run and was not used:\n  "
                                 + "\n  ".join(changes) + "\nrebuild it with `g2d cache`")
    logits = {m: np.load(path / f"{m}.logits.npy", mmap_mode="r") for m in teachers}
    features = {m: np.load(path / f"{m}.features.npy", mmap_mode="r") for m in teachers}
    return TeacherCache(path, logits, features, device)


def describe_changes(stored: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    changes = []
    if stored.get("format") != expected["format"]:
        changes.append(f"cache format {stored.get('format')} != {expected['format']}")
    stored_t, expected_t = stored.get("teachers", {}), expected["teachers"]
    for m in sorted(set(stored_t) | set(expected_t)):
        if m not in stored_t:
            changes.append(f"modality {m!r}: no outputs in the cache")
        elif m not in expected_t:
            continue  # a cache with more teachers than needed is fine
        elif stored_t[m] != expected_t[m]:
            changes.append(f"teacher {m!r}: weights changed (sha256 {stored_t[m][:12]}… -> {expected_t[m][:12]}…)")
    for key, label in (("train_fingerprint", "training data"), ("transform", "input transform"),
                       ("num_samples", "number of training samples")):
        if stored.get(key) != expected[key]:
            changes.append(f"{label} changed ({stored.get(key)!r} -> {expected[key]!r})")
    return changes

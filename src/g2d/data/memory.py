"""Data already in Python: a dict of arrays (one per modality, first axis = samples) and labels.

``from_arrays(inputs, labels)`` checks them and returns :class:`DataSplits` to pass to the API
(``api.run_methods(config, run, methods, splits=splits)``) with a config whose data section is
``data_config(splits)``. ``save_arrays(path, inputs, labels)`` writes the same data as an ``.npz``
that the ``arrays`` loader reads, so the CLI can train on it too.

Nothing is copied whole: the splits read their batches' rows from the arrays as given (pass
memory-mapped arrays, ``np.load(..., mmap_mode="r")``, to keep resident memory bounded by the
batch), and the ``arrays`` loader memory-maps the ``.npz`` members ``save_arrays`` writes
(uncompressed); see :mod:`g2d.data.mapped`.
"""
from __future__ import annotations

import io as pyio
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import torch
from pydantic import Field

from g2d import io
from g2d.data.base import DatasetInfo, DataSplits
from g2d.data.common import ClassList, carve_indices, scale_targets
from g2d.data.mapped import MappedArrayDataset, Standardise, check_finite_chunked, feature_moments, open_npz_members
from g2d.data.registry import DATASETS, DatasetOptions
from g2d.data.validate import (ARRAY_FILE_ERRORS, MIN_CLASS_SAMPLES, check_class_list, check_class_support,
                               check_finite_rows, check_not_empty, check_numeric, check_same_counts,
                               check_targets_vary, warn_if_constant)
from g2d.paths import require_file
from g2d.validation import RELATIVE_PATHS, DataError
from g2d.registry import ConfigPath

SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def from_arrays(inputs: Mapping[str, Any], labels: Any, *, task: Literal["classification", "regression"] = "classification",
                split: Sequence[str] | None = None, class_names: Sequence[str] | None = None,
                val_fraction: float = 0.1, test_fraction: float = 0.2, split_seed: int = 0,
                standardize: bool = False, source: str = "from_arrays",
                min_class_samples: int = MIN_CLASS_SAMPLES) -> DataSplits:
    """Check arrays + labels and split them: by ``split`` (train/val/test per sample), else carved
    (seeded, stratified): test first, then validation from the rest. ``standardize`` scales each
    feature with the train split's mean and std. Without ``class_names`` the classes are 0..max
    label, and a label with fewer than ``min_class_samples`` samples (or, with ``split``, in one
    split only) is refused as a probable typo."""
    if len(inputs) < 1:
        raise DataError(f"{source}: expected at least one modality array, got none")
    if class_names is not None:
        check_class_list(list(class_names), f"{source}: class_names")
    arrays = {m: np.asanyarray(x) for m, x in inputs.items()}  # no copies: memory-mapped arrays stay mapped
    y = np.asarray(labels)
    y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    for m, a in arrays.items():
        check_numeric(a, f"{source}: modality {m!r}")
        if a.ndim < 2:
            arrays[m] = a = a[:, None] if a.ndim == 1 else a
        check_finite_chunked(a, f"{source}: modality {m!r}")
    check_numeric(y, f"{source}: labels")
    check_same_counts({**{m: len(a) for m, a in arrays.items()}, "labels": len(y)}, source)
    check_not_empty(len(y), source)
    check_finite_rows(y.astype(np.float64), f"{source}: labels")
    classification = task == "classification"
    num_classes = 1
    if classification:
        if not np.all(y == np.round(y)):
            raise DataError(f"{source}: classification labels must be integers, got values like {y[y != np.round(y)][:3]}")
        if not class_names:
            check_class_support(y.astype(np.int64).tolist(), [f"sample {i}" for i in range(len(y))],
                                [SPLIT_NAMES.get(str(s).strip().lower(), str(s)) for s in split]
                                if split is not None and len(split) == len(y) else None, source, "class_names", min_class_samples)
        num_classes = len(class_names) if class_names else int(y.max()) + 1
        outside = np.flatnonzero((y < 0) | (y >= num_classes))
        if len(outside):
            raise DataError(f"{source}: label {y[outside[0]].item()!r} at sample {int(outside[0])} is outside the "
                            f"classes 0..{num_classes - 1}")
    parts, provenance = assign_splits(y, split, classification, val_fraction, test_fraction, split_seed, source)
    target_range = None
    targets = {s: y[idx] for s, idx in parts.items()}
    if classification:
        targets = {s: torch.as_tensor(t.astype(np.int64)) for s, t in targets.items()}
    else:
        target_range, scaled = scale_targets(targets["train"], *[targets[s] for s in parts],
                                             where=f"{source}: labels")
        targets = {s: torch.as_tensor(t, dtype=torch.float32) for s, t in zip(parts, scaled[1:])}
    info = DatasetInfo(tuple(arrays), task, num_classes, {m: tuple(a.shape[1:]) for m, a in arrays.items()},
                       tuple(class_names or [str(c) for c in range(num_classes)]) if classification else None,
                       target_range)
    check_targets_vary(targets["train"].numpy(), task, source, info.class_names)
    for m, a in arrays.items():
        warn_if_constant(a, m, source, parts["train"])
    stats = {m: (0.0, 1.0) for m in arrays}
    if standardize:
        for m, a in arrays.items():
            mean, std = feature_moments(a, parts["train"])
            stats[m] = (mean, np.where(std > 0, std, 1.0))
    description = ("per-feature standardisation with train mean/std" if standardize else "no transform")
    transforms = {m: Standardise(*stats[m]) for m in arrays}
    datasets = {s: MappedArrayDataset(arrays, idx, targets[s], info, transforms,
                                      transform_description=f"in-memory arrays ({description})")
                for s, idx in parts.items()}
    return DataSplits(datasets["train"], datasets["val"], datasets["test"], info, {"source": source, **provenance})


def assign_splits(y: np.ndarray, split: Sequence[str] | None, stratify: bool, val_fraction: float,
                  test_fraction: float, seed: int, source: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Indices of train/val/test, from ``split`` or carved; and how they were made."""
    provenance: dict[str, Any] = {}
    if split is not None:
        names = [SPLIT_NAMES.get(str(s).strip().lower()) for s in split]
        if len(names) != len(y):
            raise DataError(f"{source}: split has {len(names)} entries but there are {len(y)} samples")
        unknown = [i for i, s in enumerate(names) if s is None]
        if unknown:
            raise DataError(f"{source}: split value {split[unknown[0]]!r} at sample {unknown[0]} is not "
                            f"one of train/val/test")
        parts = {s: np.flatnonzero(np.asarray(names) == s) for s in ("train", "val", "test")}
        provenance["splits"] = "given"
    else:
        keep, test = carve_indices(y, test_fraction, seed, stratify, f"{source} (carving test)")
        parts = {"train": np.asarray(keep), "test": np.asarray(test)}
        provenance["test"] = {"carved from": "all samples", "fraction": test_fraction, "split_seed": seed,
                              "stratified": stratify, "indices": test}
    if split is None or len(parts["val"]) == 0:
        keep, val = carve_indices(y[parts["train"]], val_fraction, seed, stratify, f"{source} (carving validation)")
        parts["val"], parts["train"] = parts["train"][val], parts["train"][keep]
        provenance["validation"] = {"carved from": "train", "fraction": val_fraction, "split_seed": seed,
                                    "stratified": stratify, "indices": parts["val"].tolist()}
    for s in ("train", "test"):
        check_not_empty(len(parts[s]), f"{source} {s} split")
    return {s: parts[s] for s in ("train", "val", "test")}, provenance


def data_config(splits: DataSplits) -> dict[str, Any]:
    """The ``data`` section of a config for splits made by :func:`from_arrays`."""
    return {"name": "arrays", "options": {"modalities": list(splits.info.modalities), "task_type": splits.info.task}}


def save_arrays(path: str | Path, inputs: Mapping[str, Any], labels: Any, split: Sequence[str] | None = None) -> Path:
    """Write arrays + labels (+ split) as an ``.npz`` the ``arrays`` loader reads (atomic write)."""
    arrays = {m: np.asarray(x) for m, x in inputs.items()}
    if "labels" in arrays or "split" in arrays:
        raise DataError("save_arrays: 'labels' and 'split' are reserved names; rename that modality")
    arrays["labels"] = np.asarray(labels)
    if split is not None:
        arrays["split"] = np.asarray([str(s) for s in split])

    def write(tmp: Path) -> None:
        buffer = pyio.BytesIO()
        np.savez(buffer, **arrays)
        tmp.write_bytes(buffer.getvalue())

    return io.atomic_write(path, write)


class ArraysOptions(DatasetOptions):
    path: ConfigPath | None = Field(None, description=".npz with one array per modality, labels and optional split; "
                                               "null: in-memory splits passed to the API")
    modalities: list[str] = Field(..., min_length=1)
    task_type: Literal["classification", "regression"] = "classification"
    class_names: ClassList | None = Field(None, description="default: 0..max label, each needing "
                                                "min_class_samples samples (in more than one split)")
    min_class_samples: int = Field(MIN_CLASS_SAMPLES, ge=1, description="without `class_names`: fewer "
                                   "samples make a label an error (a typo?)")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="carved when the file has no split array")

    def modality_names(self) -> list[str]:
        return list(self.modalities)

    def task(self) -> str:
        return self.task_type


@DATASETS.register("arrays", options=ArraysOptions)
def arrays(opts: ArraysOptions) -> DataSplits:
    """Arrays from an .npz written by ``save_arrays`` (or splits built in Python by ``from_arrays``)."""
    if opts.path is None:
        raise DataError("data.options.path is null: in-memory data has no file to load; pass the DataSplits "
                        "from g2d.data.memory.from_arrays(...) to the API as splits=, or save_arrays() to an .npz")
    path = Path(opts.path).expanduser()
    require_file(path, "data.options.path: file", DataError, hint=RELATIVE_PATHS)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in opts.modalities + ["labels"] if k not in data.files]
            if missing:
                raise DataError(f"{path}: missing arrays {missing}; found {sorted(data.files)}")
            labels, split = data["labels"], (data["split"] if "split" in data.files else None)
        inputs = open_npz_members(path, opts.modalities)  # memory-mapped where stored uncompressed
    except DataError:
        raise
    except ARRAY_FILE_ERRORS as err:
        raise DataError(f"{path}: not a readable .npz of numeric arrays ({err})") from None
    return from_arrays(inputs, labels, task=opts.task_type, split=split, class_names=opts.class_names,
                       val_fraction=opts.val_fraction, test_fraction=opts.test_fraction,
                       split_seed=opts.split_seed, source=str(path), min_class_samples=opts.min_class_samples)

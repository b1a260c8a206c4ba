"""AV-MNIST format: ``image/{train,test}_data.npy`` (N, 28, 28), ``audio/{train,test}_data.npy``
(N, 112, 112) spectrograms and ``{train,test}_labels.npy`` (N,) integer digits.

Per-sample shapes become (1, 28, 28) and (1, 112, 112). Inputs are standardised with the train
split's mean and std per modality (recorded in the transform). The arrays are memory-mapped and
read per batch (:mod:`g2d.data.mapped`): resident memory stays bounded by the batch, not the
split (the audio of the full data set alone is 70k × 112 × 112 float32 ≈ 3.5 GB). The format has no validation split:
one is carved from train (seeded, stratified) before the statistics are taken. The AV-digits
benchmark writes this format.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from g2d.data.base import DatasetInfo, DataSplits
from g2d.data.common import carve_indices, encoder_spec, finish_splits
from g2d.data.mapped import MappedArrayDataset, Standardise, bad_rows_chunked, open_npy, scalar_moments
from g2d.data.registry import DATASETS, DatasetOptions
from g2d.data.validate import (BadSamples, check_not_empty, check_numeric, check_same_counts, require_dir,
                               require_file, warn_if_constant)
from g2d.validation import DataError
from g2d.registry import ConfigPath

MODALITIES = ("image", "audio")


class AVMNISTOptions(DatasetOptions):
    root: ConfigPath = Field(..., description="folder holding image/, audio/ and *_labels.npy")
    image_shape: list[int] = Field([1, 28, 28], description="per-sample (C, H, W) of the images")
    audio_shape: list[int] = Field([1, 112, 112], description="per-sample (C, H, W) of the spectrograms")
    num_classes: int = Field(10, ge=2)
    standardize: bool = Field(True, description="subtract the train mean, divide by the train std")
    skip_bad: bool = Field(False, description="drop samples with NaN/Inf or bad labels (listed in data.json)")
    width: float = Field(0.25, gt=0, description="ResNet-18 width multiplier of the default encoders "
                                                      "(1 = 64..512 channels)")

    def modality_names(self) -> list[str]:
        return list(MODALITIES)

    def default_encoders(self) -> dict[str, dict]:
        return {m: encoder_spec("resnet18", {"width": self.width}) for m in MODALITIES}


def load_array(path: Path, where: str) -> np.ndarray:
    """The ``.npy`` at ``path``, memory-mapped read-only."""
    require_file(path, where)
    return open_npy(path, where)


def check_sample_shape(array: np.ndarray, shape: tuple[int, ...], where: str) -> None:
    """(N, *shape), or (N, H, W) for one channel, or flat (N, prod(shape)): what a batch reshapes."""
    check_numeric(array, where)
    per = array.shape[1:]
    if not (per == shape or (shape[0] == 1 and per == shape[1:]) or per == (math.prod(shape),)):
        raise DataError(f"{where}: expected per-sample shape {shape} (or {shape[1:]}, or flat "
                        f"{math.prod(shape)}), got array of shape {array.shape}")


def read_split(root: Path, split: str, opts: AVMNISTOptions, bad: BadSamples
               ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The split's arrays (memory-mapped, never read whole), its usable rows and their labels."""
    shapes = {"image": tuple(opts.image_shape), "audio": tuple(opts.audio_shape)}
    arrays = {}
    for m in MODALITIES:
        rel = f"{m}/{split}_data.npy"
        arrays[m] = load_array(root / rel, rel)
        check_sample_shape(arrays[m], shapes[m], rel)
    rel = f"{split}_labels.npy"
    labels = np.asarray(load_array(root / rel, rel))
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    check_numeric(labels, rel)
    if labels.ndim != 1:
        raise DataError(f"{rel}: expected a 1-D array of labels, got shape {labels.shape}")
    check_same_counts({**{f"{m}/{split}_data.npy": len(a) for m, a in arrays.items()}, rel: len(labels)},
                      f"{split} split of {root}")
    check_not_empty(len(labels), f"{split} split of {root}")
    keep = np.ones(len(labels), dtype=bool)
    for i in np.flatnonzero(~np.isfinite(labels.astype(np.float64)) | (labels < 0) | (labels >= opts.num_classes)
                            | (labels != np.round(labels))):
        bad.report(f"{rel} sample {i}", f"label {labels[i].item()!r} is outside the classes 0..{opts.num_classes - 1}")
        keep[i] = False
    for m, a in arrays.items():
        for i in bad_rows_chunked(a):
            if keep[i]:
                bad.report(f"{m}/{split}_data.npy sample {i}", "found NaN or Inf; inputs must be finite")
            keep[i] = False
    if not keep.any():
        raise DataError(f"{split} split of {root}: found an empty split (0 usable samples)")
    return arrays, np.flatnonzero(keep), labels[keep].astype(np.int64)


@DATASETS.register("avmnist", options=AVMNISTOptions)
def avmnist(opts: AVMNISTOptions) -> DataSplits:
    """AV-MNIST-format folder: MNIST-like images + spoken-digit spectrograms, 10 classes."""
    root = require_dir(Path(opts.root).expanduser(), "data.options.root", config_path=True)
    bad = BadSamples(opts.skip_bad)
    train_src, train_rows, train_y = read_split(root, "train", opts, bad)
    test_src, test_rows, test_y = read_split(root, "test", opts, bad)
    keep, held = carve_indices(train_y, opts.val_fraction, opts.split_seed, True, f"train split of {root}")
    val_rows, val_y = train_rows[held], train_y[held]
    train_rows, train_y = train_rows[keep], train_y[keep]
    transforms, notes = {}, []
    for m in MODALITIES:
        warn_if_constant(train_src[m], m, f"train split of {root}", train_rows)
        mean, std = scalar_moments(train_src[m], train_rows) if opts.standardize else (0.0, 1.0)
        transforms[m] = Standardise(mean, std or 1.0, cast_first=True)
        notes.append(f"{m}: (x - {mean:.6g}) / {std or 1.0:.6g}" if opts.standardize else f"{m}: as stored")
    info = DatasetInfo(MODALITIES, "classification", opts.num_classes,
                       {"image": tuple(opts.image_shape), "audio": tuple(opts.audio_shape)},
                       tuple(str(c) for c in range(opts.num_classes)))
    description = "avmnist: " + "; ".join(notes) + " (train-split statistics)"

    def mapped(sources: dict[str, np.ndarray], rows: np.ndarray, y: np.ndarray) -> MappedArrayDataset:
        return MappedArrayDataset(sources, rows, torch.from_numpy(y), info, transforms, description)

    provenance = {"source": str(root), "format": "avmnist",
                  "validation": {"carved from": "train", "fraction": opts.val_fraction, "split_seed": opts.split_seed,
                                 "stratified": True, "indices_in_train_file": held}}
    return finish_splits(mapped(train_src, train_rows, train_y), mapped(train_src, val_rows, val_y),
                         mapped(test_src, test_rows, test_y), opts,
                         provenance, bad)

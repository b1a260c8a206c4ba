"""Feature sequences (UR-Funny / IEMOCAP / MOSI style): per sample, one (time × features) array
per modality and a label; variable lengths are padded and masked (``Batch.masks``).

Preferred format: one ``.npz`` per split (``train.npz``, ``test.npz``, optional ``val.npz``) with,
per modality ``m``, either ``m`` (N, T, F) padded plus optional ``m_lengths`` (N,), or ``m``
(ΣT, F) concatenated plus ``m_lengths`` (N,); ``labels`` (N,); optional ``ids`` (N,). A pickle
(MultiBench layout: ``{"train"|"valid"|"test": {modality: array or list, "labels": …}}``) is read
only with ``format: pickle`` *and* ``allow_pickle: true``: loading a pickle can run arbitrary code.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import torch
from pydantic import Field

from g2d.data.base import Batch, DatasetInfo, DataSplits, MultimodalDataset, hash_arrays
from g2d.data.common import carve_indices, encoder_spec, finish_splits, scale_targets
from g2d.data.registry import DATASETS, DatasetOptions
from g2d.data.validate import (ARRAY_FILE_ERRORS, BadSamples, check_numeric, check_same_counts, check_unique,
                               require_dir, require_file, warn_constant)
from g2d.validation import DataError
from g2d.registry import ConfigPath

Split = dict[str, Any]  # modality -> list of (T, F) arrays, "labels" -> (N,), "ids" -> list[str]


class SequenceOptions(DatasetOptions):
    root: ConfigPath = Field(..., description="folder of the split files")
    modalities: list[str] = Field(..., min_length=1, description="modality keys, e.g. [text, audio, vision]")
    format: Literal["npz", "pickle"] = "npz"
    train_file: str = "train.npz"
    val_file: str | None = Field("val.npz", description="used when present; otherwise carved from train")
    test_file: str = "test.npz"
    pickle_file: str = Field("data.pkl", description="format: pickle — one file holding every split")
    allow_pickle: bool = Field(False, description="required for format: pickle (a pickle can execute code)")
    label_key: str = "labels"
    task_type: Literal["classification", "regression"] = "classification"
    num_classes: int | None = Field(None, ge=2, description="default: 1 + the largest train label")
    max_length: int | None = Field(None, gt=0, description="keep at most this many time steps")
    standardize: bool = Field(True, description="per-feature train mean/std over real (unpadded) steps")
    skip_bad: bool = Field(False, description="drop bad samples (listed in data.json) instead of failing")

    def modality_names(self) -> list[str]:
        return list(self.modalities)

    def task(self) -> str:
        return self.task_type

    def default_encoders(self) -> dict[str, dict]:
        return {m: encoder_spec("transformer") for m in self.modalities}


class SequenceDataset(MultimodalDataset):
    """Padded (N, T, F) tensors + lengths; batches carry (B, T) masks, True on real steps."""

    def __init__(self, inputs: dict[str, torch.Tensor], lengths: dict[str, torch.Tensor], target: torch.Tensor,
                 info: DatasetInfo, description: str) -> None:
        self.inputs, self.lengths, self.target, self.info = inputs, lengths, target, info
        self.transform_description = description
        self._fingerprint = hash_arrays(*[inputs[m] for m in info.modalities],
                                        *[lengths[m] for m in info.modalities], target, extra=description)

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def get_batch(self, indices: Sequence[int]) -> Batch:
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        masks = {m: torch.arange(x.shape[1])[None, :] < self.lengths[m][idx, None] for m, x in self.inputs.items()}
        return Batch({m: x[idx] for m, x in self.inputs.items()}, self.target[idx], idx, masks)

    def get_item(self, i: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        return {m: x[i] for m, x in self.inputs.items()}, self.target[i]

    def targets(self) -> torch.Tensor:
        return self.target

    def fingerprint(self) -> str:
        return self._fingerprint


def read_npz(path: Path, opts: SequenceOptions) -> Split:
    require_file(path, f"data.options ({path.name})")
    try:
        data = np.load(path, allow_pickle=False)
        keys = set(data.files)
    except ARRAY_FILE_ERRORS as err:
        raise DataError(f"{path}: not a readable .npz file ({err})") from None
    out: Split = {}
    for m in opts.modalities + [opts.label_key]:
        if m not in keys:
            raise DataError(f"{path}: missing array {m!r}; found {sorted(keys)}")
    try:
        for m in opts.modalities:
            arr = data[m]
            lengths = data[f"{m}_lengths"] if f"{m}_lengths" in keys else None
            if arr.ndim == 3:
                lengths = np.full(len(arr), arr.shape[1]) if lengths is None else lengths
                out[m] = [arr[i, :int(n)] for i, n in enumerate(lengths)]
            elif arr.ndim == 2 and lengths is not None:
                if int(np.sum(lengths)) != len(arr):
                    raise DataError(f"{path}: {m}_lengths sum to {int(np.sum(lengths))} but {m!r} has {len(arr)} rows")
                out[m] = np.split(arr, np.cumsum(lengths)[:-1].astype(int))
            else:
                raise DataError(f"{path}: array {m!r} has shape {arr.shape}; expected (N, T, F) padded, or "
                                f"(sum of T, F) with {m}_lengths (N,)")
        out["labels"] = data[opts.label_key]
        out["ids"] = [str(x) for x in data["ids"]] if "ids" in keys else None
    except DataError as err:
        raise DataError(f"{path}: {err}") from None
    except ARRAY_FILE_ERRORS as err:  # an object array, a corrupt or truncated member
        raise DataError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from None
    return out


def read_pickle(path: Path, opts: SequenceOptions) -> dict[str, Split]:
    if not opts.allow_pickle:
        raise DataError(f"{path}: refusing to load a pickle, which can execute arbitrary code; set "
                        f"data.options.allow_pickle: true only for a file you trust, or convert it to npz")
    require_file(path, "data.options.pickle_file")
    try:
        with open(path, "rb") as fh:
            raw = pickle.load(fh)  # noqa: S301 - explicit opt-in above
    except Exception as err:  # any unpickling failure is the file's fault
        raise DataError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a dict of splits, got {type(raw).__name__}")
    splits = {}
    for key, name in (("train", "train"), ("valid", "val"), ("val", "val"), ("test", "test")):
        if key in raw:
            part = raw[key]
            missing = [k for k in opts.modalities + [opts.label_key] if k not in part]
            if missing:
                raise DataError(f"{path} split {key!r}: missing keys {missing}; found {sorted(part)}")
            splits[name] = {m: [np.asarray(x) for x in part[m]] for m in opts.modalities}
            splits[name]["labels"] = np.asarray(part[opts.label_key])
            ids = part.get("id", part.get("ids"))
            splits[name]["ids"] = None if ids is None else [str(x) for x in ids]
    return splits


def check_split(split: Split, name: str, opts: SequenceOptions, num_classes: int | None,
                bad: BadSamples) -> Split:
    """Counts, ids, per-sample shape/dtype, finiteness, labels; drops (skip_bad) or raises."""
    labels = np.asarray(split["labels"])
    labels = labels.reshape(len(labels), -1)[:, 0] if labels.ndim == 2 and labels.shape[1] == 1 else labels
    check_numeric(labels, f"{name} {opts.label_key}")
    counts = {m: len(split[m]) for m in opts.modalities}
    check_same_counts({**counts, opts.label_key: len(labels)}, name)
    ids = split["ids"] or [str(i) for i in range(len(labels))]
    check_unique(ids, f"{name} ids")
    keep = []
    widths = {m: np.asarray(split[m][0]).shape[-1] if len(split[m]) else 0 for m in opts.modalities}
    for i in range(len(labels)):
        problem = None
        for m in opts.modalities:
            x = np.asarray(split[m][i])
            if x.dtype == object or not np.issubdtype(x.dtype, np.number):
                problem = f"modality {m!r}: expected a numeric (T, F) array, got dtype {x.dtype}"
            elif x.ndim != 2 or x.shape[1] != widths[m]:
                problem = f"modality {m!r}: expected shape (T, {widths[m]}), got {x.shape}"
            elif x.shape[0] == 0:
                problem = f"modality {m!r}: empty sequence (0 time steps)"
            elif not np.isfinite(x).all():
                problem = f"modality {m!r}: found NaN or Inf"
            if problem:
                break
        if problem is None and not np.isfinite(np.asarray(labels[i], np.float64)):
            problem = f"label {np.asarray(labels[i]).item()!r} is not a finite number"
        if problem is None and num_classes is not None \
                and not (0 <= labels[i] < num_classes and float(labels[i]).is_integer()):
            problem = f"label {np.asarray(labels[i]).item()!r} is outside the classes 0..{num_classes - 1}"
        if problem:
            bad.report(f"{name} sample {i} (id {ids[i]})", problem)
        else:
            keep.append(i)
    if not keep:
        raise DataError(f"{name}: found an empty split (0 usable samples)")
    return {**{m: [split[m][i] for i in keep] for m in opts.modalities}, "labels": labels[keep],
            "ids": [ids[i] for i in keep]}


def infer_num_classes(labels: Any) -> int:
    """1 + the largest finite integer label of the train split (at least 2)."""
    values = np.asarray(labels, dtype=np.float64).reshape(-1)
    values = values[np.isfinite(values)]
    return max(2, int(values.max()) + 1) if len(values) else 2


def pad(seqs: list[np.ndarray], length: int, mean: np.ndarray, std: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    out = np.zeros((len(seqs), length, seqs[0].shape[1]), np.float32)
    lengths = np.zeros(len(seqs), np.int64)
    for i, s in enumerate(seqs):
        s = s[:length]
        out[i, :len(s)], lengths[i] = (np.asarray(s, np.float64) - mean) / std, len(s)
    return torch.from_numpy(out), torch.from_numpy(lengths)


@DATASETS.register("sequences", options=SequenceOptions)
def sequences(opts: SequenceOptions) -> DataSplits:
    """Per-sample (time × features) arrays per modality (npz; pickle only with allow_pickle)."""
    root = require_dir(Path(opts.root).expanduser(), "data.options.root", config_path=True)
    if opts.format == "pickle":
        raw = read_pickle(root / opts.pickle_file, opts)
    else:
        raw = {"train": read_npz(root / opts.train_file, opts), "test": read_npz(root / opts.test_file, opts)}
        if opts.val_file and os.path.lexists(root / opts.val_file):  # present in any form: read, or name what is wrong
            raw["val"] = read_npz(root / opts.val_file, opts)
    if "train" not in raw or "test" not in raw:
        raise DataError(f"{root}: expected train and test splits, found {sorted(raw)}")
    bad = BadSamples(opts.skip_bad)
    num_classes = None
    if opts.task_type == "classification":
        num_classes = opts.num_classes or infer_num_classes(raw["train"]["labels"])
    checked = {s: check_split(v, f"{s} split", opts, num_classes, bad) for s, v in raw.items()}
    provenance: dict[str, Any] = {"source": str(root), "format": opts.format}
    if "val" not in checked:  # carve before any statistics are taken, so they are train-only
        checked["train"], checked["val"], provenance["validation"] = carve_split(checked["train"], opts)
    train = checked["train"]
    widths = {m: train[m][0].shape[1] for m in opts.modalities}
    for s, v in checked.items():
        for m in opts.modalities:
            if v[m][0].shape[1] != widths[m]:
                raise DataError(f"{s} split, modality {m!r}: {v[m][0].shape[1]} features, but train has {widths[m]}")
    lengths = {m: min(opts.max_length or 10**9, max(len(x) for v in checked.values() for x in v[m]))
               for m in opts.modalities}
    stats = {}
    for m in opts.modalities:
        steps = np.concatenate([x[:lengths[m]] for x in train[m]]).astype(np.float64)
        if len(train[m]) > 1 and not np.any(steps != steps[:1]):
            warn_constant(m, "train split", len(train[m]))
        mean, std = (steps.mean(0), steps.std(0)) if opts.standardize else (np.zeros(widths[m]), np.ones(widths[m]))
        stats[m] = (mean, np.where(std > 0, std, 1.0))  # float64: (x - mean) / std is computed in float64
    classification = opts.task_type == "classification"
    target_range = None
    if classification:
        targets = {s: torch.as_tensor(v["labels"].astype(np.int64)) for s, v in checked.items()}
    else:
        target_range, scaled = scale_targets(train["labels"], *[checked[s]["labels"] for s in checked],
                                             where=f"{root} train {opts.label_key}")
        targets = {s: torch.as_tensor(a, dtype=torch.float32) for s, a in zip(checked, scaled[1:])}
    info = DatasetInfo(tuple(opts.modalities), opts.task_type, num_classes or 1,
                       {m: (lengths[m], widths[m]) for m in opts.modalities},
                       tuple(str(c) for c in range(num_classes)) if num_classes else None, target_range)
    description = (f"sequences: pad/truncate to {lengths} steps with masks; "
                   + ("per-feature standardisation (train statistics)" if opts.standardize else "no scaling")
                   + ("" if classification else f"; targets scaled to [0, 1] from train range {target_range}"))
    datasets = {}
    for s, v in checked.items():
        padded = {m: pad(v[m], lengths[m], *stats[m]) for m in opts.modalities}
        datasets[s] = SequenceDataset({m: p[0] for m, p in padded.items()}, {m: p[1] for m, p in padded.items()},
                                      targets[s], info, description)
    return finish_splits(datasets["train"], datasets["val"], datasets["test"], opts, provenance, bad)


def carve_split(train: Split, opts: SequenceOptions) -> tuple[Split, Split, dict[str, Any]]:
    """Seeded (stratified for classification) validation split of the checked train samples."""
    stratify = opts.task_type == "classification"
    keep, held = carve_indices(np.asarray(train["labels"], np.float64), opts.val_fraction, opts.split_seed,
                               stratify, "train split")
    pick = lambda idx: {**{m: [train[m][i] for i in idx] for m in opts.modalities},  # noqa: E731
                        "labels": train["labels"][idx], "ids": [train["ids"][i] for i in idx]}
    record = {"carved from": "train", "fraction": opts.val_fraction, "split_seed": opts.split_seed,
              "stratified": stratify, "ids": [train["ids"][i] for i in held]}
    return pick(keep), pick(held), record

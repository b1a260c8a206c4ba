"""The data contract every loader fulfils: splits of samples with named modalities.

A sample is ``inputs[modality] -> Tensor`` plus a ``target`` and its ``index`` inside its split; the
index is what the teacher-output cache is keyed on. Loaders return a :class:`DataSplits`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Sequence

import numpy as np
import torch

from g2d.validation import DataError

Task = Literal["classification", "regression"]


@dataclass
class Batch:
    """A batch: one tensor per modality, the targets, and the samples' indices in their split."""

    inputs: dict[str, torch.Tensor]
    target: torch.Tensor
    index: torch.Tensor
    #: Optional (B, T) bool masks, True where a time step is real (variable-length sequences).
    masks: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        move = lambda t: t.to(device, non_blocking=non_blocking)  # noqa: E731
        return Batch({m: move(x) for m, x in self.inputs.items()}, move(self.target), move(self.index),
                     {m: move(x) for m, x in self.masks.items()})

    def pin_memory(self) -> "Batch":
        return Batch({m: x.pin_memory() for m, x in self.inputs.items()}, self.target.pin_memory(),
                     self.index.pin_memory(), {m: x.pin_memory() for m, x in self.masks.items()})


@dataclass(frozen=True)
class DatasetInfo:
    """What the rest of the library needs to know about a data set, without reading samples."""

    modalities: tuple[str, ...]
    task: Task
    num_classes: int  # classes; 1 for regression
    input_shapes: dict[str, tuple[int, ...]]  # per-sample shape of each modality
    class_names: tuple[str, ...] | None = None
    target_range: tuple[float, float] | None = None  # regression: original (min, max) of [0, 1]

    @property
    def num_outputs(self) -> int:
        return self.num_classes if self.task == "classification" else 1


class MultimodalDataset(torch.utils.data.Dataset):
    """Base class: subclasses implement ``__len__`` and ``get_item``; may override ``get_batch``.

    ``__getitem__`` takes a *list* of indices and returns a whole :class:`Batch`, so a DataLoader
    with ``batch_size=None`` and a batch sampler moves batches, not samples.
    """

    info: DatasetInfo
    #: Human-readable description of the input transform; part of every cache fingerprint.
    transform_description: str = "identity"
    #: True when the transform is random (augmentation): cached teacher outputs would be wrong.
    random_transform: bool = False

    def get_item(self, i: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        raise NotImplementedError

    def get_batch(self, indices: Sequence[int]) -> Batch:
        items = [self.get_item(int(i)) for i in indices]
        inputs = {m: torch.stack([it[0][m] for it in items]) for m in self.info.modalities}
        target = torch.stack([it[1] for it in items])
        return Batch(inputs, target, torch.as_tensor(list(indices), dtype=torch.long))

    def __getitem__(self, indices: Sequence[int]) -> Batch:  # type: ignore[override]
        return self.get_batch(indices)

    def targets(self) -> torch.Tensor:
        """All targets of the split (used for stratified splits and metrics)."""
        return torch.stack([self.get_item(i)[1] for i in range(len(self))])

    def fingerprint(self) -> str:
        """A content hash identifying this split's samples, for cache validation."""
        raise NotImplementedError


def hash_arrays(*arrays: torch.Tensor | np.ndarray, extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for a in arrays:
        arr = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        digest.update(str(arr.dtype).encode() + str(arr.shape).encode())
        digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()[:16]


class TensorDataset(MultimodalDataset):
    """A split held in memory as one tensor per modality (fast path: batches by fancy indexing)."""

    def __init__(self, inputs: dict[str, torch.Tensor], target: torch.Tensor, info: DatasetInfo,
                 transform_description: str = "identity") -> None:
        sizes = {m: int(x.shape[0]) for m, x in inputs.items()}
        sizes["target"] = int(target.shape[0])
        if len(set(sizes.values())) != 1:
            raise DataError(f"Found modalities with inconsistent numbers of samples: {sizes}")
        if sizes["target"] == 0:
            raise DataError("Found an empty split (0 samples); every split needs at least one sample")
        self.inputs, self.target, self.info = inputs, target, info
        self.transform_description = transform_description
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def get_item(self, i: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        return {m: x[i] for m, x in self.inputs.items()}, self.target[i]

    def get_batch(self, indices: Sequence[int]) -> Batch:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return Batch({m: x[idx] for m, x in self.inputs.items()}, self.target[idx], idx)

    def targets(self) -> torch.Tensor:
        return self.target

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            arrays = [self.inputs[m] for m in self.info.modalities] + [self.target]
            self._fingerprint = hash_arrays(*arrays, extra=self.transform_description)
        return self._fingerprint


class SubsetDataset(MultimodalDataset):
    """A view of some samples of another split (e.g. validation carved from train)."""

    def __init__(self, base: MultimodalDataset, indices: Sequence[int]) -> None:
        if len(indices) == 0:
            raise DataError("Found an empty split (0 samples) after subsetting")
        self.base, self.indices = base, torch.as_tensor(indices, dtype=torch.long)
        self.info = base.info
        self.transform_description = base.transform_description
        self.random_transform = base.random_transform

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def get_item(self, i: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        return self.base.get_item(int(self.indices[i]))

    def get_batch(self, indices: Sequence[int]) -> Batch:
        local = torch.as_tensor(indices, dtype=torch.long)
        batch = self.base.get_batch(self.indices[local].tolist())
        return replace(batch, index=local)

    def targets(self) -> torch.Tensor:
        return self.base.targets()[self.indices]

    def fingerprint(self) -> str:
        return hash_arrays(self.indices, extra=self.base.fingerprint())


@dataclass
class DataSplits:
    """Train / validation / test splits of one data set, and how they were made."""

    train: MultimodalDataset
    val: MultimodalDataset
    test: MultimodalDataset
    info: DatasetInfo
    #: How the splits were made (e.g. validation carved from train: seed, fraction, indices).
    provenance: dict[str, Any] = field(default_factory=dict)
    #: Files the splits were made with, written into the run folder: relative path -> text
    #: (a text modality's trained tokenizer).
    artifacts: dict[str, str] = field(default_factory=dict)


def stratified_split(targets: torch.Tensor, fraction: float, seed: int,
                     stratify: bool = True) -> tuple[list[int], list[int]]:
    """Seeded split of ``range(len(targets))`` into (keep, held_out), per class when stratified."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"val_fraction must be in (0, 1), got {fraction}")
    gen = torch.Generator().manual_seed(seed)
    n = int(targets.shape[0])
    groups = [torch.arange(n)]
    if stratify:
        labels = targets.long()
        groups = [torch.nonzero(labels == c).flatten() for c in torch.unique(labels)]
    held: list[int] = []
    for members in groups:
        perm = members[torch.randperm(len(members), generator=gen)]
        k = max(1, round(fraction * len(members))) if len(members) > 1 else 0
        held.extend(perm[:k].tolist())
    held_set = set(held)
    keep = [i for i in range(n) if i not in held_set]
    if not keep or not held:
        raise DataError(f"Cannot carve a validation split of fraction {fraction} from {n} samples")
    return keep, sorted(held)


def carve_validation(train: MultimodalDataset, fraction: float, seed: int
                     ) -> tuple[MultimodalDataset, MultimodalDataset, dict[str, Any]]:
    """Split a validation set off ``train`` (stratified for classification); returns provenance."""
    stratify = train.info.task == "classification"
    keep, held = stratified_split(train.targets(), fraction, seed, stratify)
    record = {"validation": "carved from train", "val_fraction": fraction, "split_seed": seed,
              "stratified": stratify, "val_indices_in_source_train": held}
    return SubsetDataset(train, keep), SubsetDataset(train, held), record

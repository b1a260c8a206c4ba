"""A torch ``Dataset`` from the user's own code as a g2d data set (the Python API accepts one
where ``data.name`` is today; see :mod:`g2d.objects`).

Each index must yield ``(inputs, target)``: ``inputs`` a mapping modality -> tensor (the same
modalities and per-sample shapes for every sample), ``target`` an integer class. Given one
``Dataset``, test then validation are carved from it (seeded, stratified, like the ``arrays``
loader: ``test_fraction`` then ``val_fraction`` of the rest); given ``{"train": ..., "val": ...,
"test": ...}`` the splits are used as they are (``val`` carved from train when absent). Every
sample is checked when it is read, and a mismatch names the split, the index, the modality and
what was expected. Regression targets are refused (scale them into a ``from_arrays`` split
instead): the classes are 0..max label of the train split. The content fingerprint hashes every
sample once (it is what the teacher-output cache is keyed on).
"""
from __future__ import annotations

import hashlib
from typing import Any, ClassVar, Mapping

import numpy as np
import torch
from pydantic import Field

from g2d.data.base import DatasetInfo, DataSplits, MultimodalDataset, SubsetDataset, stratified_split
from g2d.data.registry import DatasetOptions
from g2d.validation import DataError


def read_item(dataset: Any, i: int, where: str) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    try:
        item = dataset[i]
    except Exception as err:  # the user's __getitem__
        raise DataError(f"{where}: reading sample {i} failed: {type(err).__name__}: {err}") from err
    if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], Mapping)):
        raise DataError(f"{where}: sample {i} must be (inputs: dict modality -> tensor, target), "
                        f"got {type(item).__name__}")
    inputs = {str(m): torch.as_tensor(x, dtype=torch.float32) for m, x in item[0].items()}
    target = torch.as_tensor(item[1])
    if target.ndim != 0 or target.is_floating_point() and target != target.round():
        raise DataError(f"{where}: sample {i}: the target must be one integer class, got {item[1]!r}")
    return inputs, target.long()


class TorchDatasetAdapter(MultimodalDataset):
    """One split backed by the user's torch ``Dataset``; every item is checked against ``info``."""

    transform_description = "the user's torch Dataset (its own transform)"

    def __init__(self, dataset: Any, info: DatasetInfo, where: str) -> None:
        if len(dataset) == 0:
            raise DataError(f"{where}: found an empty split (0 samples); every split needs at least one sample")
        self.dataset, self.info, self.where = dataset, info, where
        self._targets: torch.Tensor | None = None
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return len(self.dataset)

    def get_item(self, i: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        inputs, target = read_item(self.dataset, i, self.where)
        if set(inputs) != set(self.info.modalities):
            raise DataError(f"{self.where}: sample {i} has modalities {sorted(inputs)}; expected "
                            f"{sorted(self.info.modalities)} (those of the first training sample)")
        for m, x in inputs.items():
            if tuple(x.shape) != self.info.input_shapes[m]:
                raise DataError(f"{self.where}: sample {i}, modality {m!r}: expected per-sample shape "
                                f"{self.info.input_shapes[m]}, got {tuple(x.shape)}")
        if not 0 <= int(target) < self.info.num_classes:
            raise DataError(f"{self.where}: sample {i}: class {int(target)} is outside 0..{self.info.num_classes - 1} "
                            f"(the classes seen in the train split)")
        return inputs, target

    def targets(self) -> torch.Tensor:
        if self._targets is None:
            self._targets = torch.stack([read_item(self.dataset, i, self.where)[1] for i in range(len(self))])
        return self._targets

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            digest = hashlib.sha256(self.transform_description.encode())
            for i in range(len(self)):
                inputs, target = self.get_item(i)
                for m in self.info.modalities:
                    digest.update(np.ascontiguousarray(inputs[m].numpy()).tobytes())
                digest.update(str(int(target)).encode())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint


def probe_info(train: Any, where: str) -> DatasetInfo:
    """Modalities and shapes from the first training sample; classes from every training target."""
    if len(train) == 0:
        raise DataError(f"{where}: the train split is empty")
    inputs, _ = read_item(train, 0, where)
    if not inputs:
        raise DataError(f"{where}: sample 0 has no modalities")
    labels = [int(read_item(train, i, where)[1]) for i in range(len(train))]
    if min(labels) < 0:
        raise DataError(f"{where}: sample {labels.index(min(labels))}: negative class {min(labels)}")
    classes = max(labels) + 1
    if classes < 2:
        raise DataError(f"{where}: every training target is class 0; classification needs at least 2 classes")
    return DatasetInfo(tuple(inputs), "classification", classes, {m: tuple(x.shape) for m, x in inputs.items()},
                       tuple(str(c) for c in range(classes)))


class ObjectDataOptions(DatasetOptions):
    """Options of a data set object given to the Python API (registered by :mod:`g2d.objects`)."""

    source: ClassVar[Any] = None  # the object; set on the per-object subclass
    probed: ClassVar[DatasetInfo | None] = None  # its info, read once
    test_fraction: float = Field(0.2, gt=0, lt=1, description="carved when one Dataset (not splits) is given")

    def modality_names(self) -> list[str]:
        return list(self._info().modalities)

    def _info(self) -> DatasetInfo:
        cls = type(self)
        if cls.probed is None:
            source = cls.source
            if isinstance(source, DataSplits):
                cls.probed = source.info
            else:
                train = source["train"] if isinstance(source, Mapping) else source
                cls.probed = probe_info(train, "data (torch Dataset)")
        return cls.probed


def splits_from_torch(source: Any, name: str, val_fraction: float = 0.1, test_fraction: float = 0.2,
                      seed: int = 0) -> DataSplits:
    """DataSplits from one torch Dataset (test and val carved) or a mapping of splits."""
    where = f"data {name!r}"
    if isinstance(source, Mapping):
        unknown = sorted(set(source) - {"train", "val", "test"})
        if unknown or "train" not in source or "test" not in source:
            raise DataError(f"{where}: expected splits named train, test and optionally val; got {sorted(source)}")
        info = probe_info(source["train"], f"{where} train split")
        train = TorchDatasetAdapter(source["train"], info, f"{where} train split")
        test = TorchDatasetAdapter(source["test"], info, f"{where} test split")
        if "val" in source:
            return DataSplits(train, TorchDatasetAdapter(source["val"], info, f"{where} val split"), test, info,
                              {"source": name, "splits": "given"})
        keep, held = stratified_split(train.targets(), val_fraction, seed)
        return DataSplits(SubsetDataset(train, keep), SubsetDataset(train, held), test, info,
                          {"source": name, "validation": {"carved from": "train", "fraction": val_fraction,
                                                          "split_seed": seed, "indices": held}})
    info = probe_info(source, where)
    whole = TorchDatasetAdapter(source, info, where)
    rest, test = stratified_split(whole.targets(), test_fraction, seed)
    rest_targets = whole.targets()[torch.as_tensor(rest)]
    keep, held = stratified_split(rest_targets, val_fraction, seed)
    train_idx, val_idx = [rest[i] for i in keep], [rest[i] for i in held]
    return DataSplits(SubsetDataset(whole, train_idx), SubsetDataset(whole, val_idx), SubsetDataset(whole, test),
                      info, {"source": name, "test": {"carved from": "all samples", "fraction": test_fraction,
                                                      "split_seed": seed, "indices": test},
                             "validation": {"carved from": "the rest", "fraction": val_fraction,
                                            "split_seed": seed, "indices": val_idx}})

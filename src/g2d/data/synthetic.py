"""Built-in synthetic multimodal data with a controllable modality imbalance.

The first modality ("strong") is *fast to fit*: its class signal is linear and loud, but it is
absent (pure noise) on a fraction ``strong_missing`` of the samples — think of an occluded camera
— and with enough dimensions a network memorises those samples' noise instead of asking the
other modalities. The other modalities ("weak…") are *slow but
complementary*: their signal is informative on every sample but carries a random sign, so it is
invisible to a linear read-out and must be learnt by the encoder's non-linearity. Joint training
fits the training set through the strong modality before the weak encoders have learnt much — the
imbalance the paper is about — while a weak modality's own teacher learns it well.

Regression (targets in [0, 1]) uses the same recipe on a continuous latent value.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field, model_validator

from g2d.data.base import DatasetInfo, DataSplits, TensorDataset
from g2d.data.registry import DATASETS, DatasetOptions


class SyntheticOptions(DatasetOptions):
    num_modalities: int = Field(2, ge=2, description="M")
    names: list[str] | None = Field(None, description="modality names; default strong, weak[1..]")
    task_type: Literal["classification", "regression"] = "classification"
    num_classes: int = Field(10, ge=2)
    num_train: int = Field(2000, ge=10)
    num_val: int = Field(500, ge=2)
    num_test: int = Field(2000, ge=2)
    dim: int = Field(32, ge=2, description="input width of the weak modalities")
    strong_dim: int = Field(128, ge=2, description="input width of the strong modality (wider = easier to memorise)")
    strong_snr: float = Field(4.0, gt=0, description="norm of the strong modality's class signal")
    strong_missing: float = Field(0.3, ge=0, lt=1, description="share of samples whose strong signal is absent")
    weak_snr: float = Field(3.0, gt=0, description="norm of the weak modalities' class signal")
    weak_noise: float = Field(0.1, ge=0, lt=1, description="share of samples whose weak signal is wrong")
    seed: int = Field(0, description="seed of the generator (not of training)")

    @model_validator(mode="after")
    def _names_match(self) -> "SyntheticOptions":
        if self.names is not None and len(self.names) != self.num_modalities:
            raise ValueError(f"names: expected {self.num_modalities} names (num_modalities), "
                             f"got {len(self.names)}: {self.names}")
        return self

    def modality_names(self) -> list[str]:
        if self.names:
            return list(self.names)
        if self.num_modalities == 2:
            return ["strong", "weak"]
        return ["strong"] + [f"weak{i}" for i in range(1, self.num_modalities)]

    def task(self) -> str:
        return self.task_type


def _unit_rows(n: int, dim: int, gen: torch.Generator) -> torch.Tensor:
    rows = torch.randn(n, dim, generator=gen)
    return rows / rows.norm(dim=1, keepdim=True)


def _corrupt(labels: torch.Tensor, rate: float, num_classes: int, gen: torch.Generator) -> torch.Tensor:
    """Replace a ``rate`` share of labels by a different random class."""
    flip = torch.rand(labels.shape, generator=gen) < rate
    shift = torch.randint(1, num_classes, labels.shape, generator=gen)
    return torch.where(flip, (labels + shift) % num_classes, labels)


def _classification(opts: SyntheticOptions, n: int, gen: torch.Generator,
                    prototypes: list[torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    names = opts.modality_names()
    y = torch.randint(0, opts.num_classes, (n,), generator=gen)
    inputs = {}
    for k, (name, proto) in enumerate(zip(names, prototypes)):
        noise = torch.randn(n, proto.shape[1], generator=gen)
        if k == 0:
            present = (torch.rand(n, 1, generator=gen) >= opts.strong_missing).float()
            inputs[name] = opts.strong_snr * present * proto[y] + noise
        else:
            shown = _corrupt(y, opts.weak_noise, opts.num_classes, gen)
            sign = torch.randint(0, 2, (n, 1), generator=gen).float() * 2 - 1
            inputs[name] = opts.weak_snr * sign * proto[shown] + noise
    return inputs, y


def _regression(opts: SyntheticOptions, n: int, gen: torch.Generator,
                directions: list[torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    names = opts.modality_names()
    y = torch.rand(n, generator=gen)
    inputs = {}
    for k, (name, basis) in enumerate(zip(names, directions)):
        noise = torch.randn(n, basis.shape[1], generator=gen)
        if k == 0:
            present = (torch.rand(n, 1, generator=gen) >= opts.strong_missing).float()
            inputs[name] = opts.strong_snr * present * (2 * y[:, None] - 1) * basis[0] + noise
        else:
            angle = math.pi * y[:, None]
            sign = torch.randint(0, 2, (n, 1), generator=gen).float() * 2 - 1
            signal = torch.cos(angle) * basis[0] + torch.sin(angle) * basis[1]
            inputs[name] = opts.weak_snr * sign * signal + noise
    return inputs, y


@DATASETS.register("synthetic", options=SyntheticOptions)
def synthetic(opts: SyntheticOptions) -> DataSplits:
    """Synthetic data with one fast-to-fit strong modality and slow, complementary weak ones."""
    gen = torch.Generator().manual_seed(opts.seed)
    names = opts.modality_names()
    classification = opts.task_type == "classification"
    rows = opts.num_classes if classification else 2
    dims = [opts.strong_dim] + [opts.dim] * (len(names) - 1)
    bases = [_unit_rows(rows, d, gen) for d in dims]
    make = _classification if classification else _regression
    info = DatasetInfo(
        modalities=tuple(names), task=opts.task_type,
        num_classes=opts.num_classes if classification else 1,
        input_shapes={m: (d,) for m, d in zip(names, dims)},
        class_names=tuple(str(c) for c in range(opts.num_classes)) if classification else None,
        target_range=None if classification else (0.0, 1.0))
    splits = {}
    for split, n in (("train", opts.num_train), ("val", opts.num_val), ("test", opts.num_test)):
        inputs, target = make(opts, n, gen, bases)
        splits[split] = TensorDataset(inputs, target, info, transform_description="synthetic (no transform)")
    return DataSplits(splits["train"], splits["val"], splits["test"], info,
                      provenance={"validation": "generated", "generator": opts.model_dump()})

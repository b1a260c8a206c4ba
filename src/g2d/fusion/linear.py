"""Linear fusions: ``sum`` and ``late`` (one head per modality) and ``concat`` (one shared head)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from g2d.encoders.registry import init_weights
from g2d.fusion.base import FUSIONS, Fusion, FusionOutput
from g2d.registry import NoOptions


class SumFusion(Fusion):
    """Fused logits = Σ_m W_m f_m + b_m; ``z_s^m`` = W_m f_m + b_m (its own head)."""

    reduce = "sum"

    def __init__(self, feature_dims: dict[str, int], num_outputs: int) -> None:
        super().__init__(feature_dims, num_outputs)
        self.heads = nn.ModuleDict({m: nn.Linear(d, num_outputs) for m, d in feature_dims.items()})
        init_weights(self)

    def forward(self, features: dict[str, Tensor]) -> FusionOutput:
        per = {m: self.heads[m](features[m]) for m in self.modalities}
        stacked = torch.stack([per[m] for m in self.modalities])  # (M, B, C)
        fused = stacked.sum(0) if self.reduce == "sum" else stacked.mean(0)
        return FusionOutput(fused, per)


class LateFusion(SumFusion):
    """Fused logits = mean of per-modality heads' logits (late / decision-level fusion)."""

    reduce = "mean"


class ConcatFusion(Fusion):
    """Fused logits = W [f_1; …; f_M] + b; ``z_s^m`` = W[:, slice_m] f_m (the bias is not split,
    so Σ_m z_s^m = fused logits − b)."""

    def __init__(self, feature_dims: dict[str, int], num_outputs: int) -> None:
        super().__init__(feature_dims, num_outputs)
        self.head = nn.Linear(sum(feature_dims.values()), num_outputs)
        init_weights(self)

    def forward(self, features: dict[str, Tensor]) -> FusionOutput:
        per, start = {}, 0
        for m in self.modalities:
            width = self.feature_dims[m]
            per[m] = features[m] @ self.head.weight[:, start:start + width].T
            start += width
        fused = torch.stack([per[m] for m in self.modalities]).sum(0) + self.head.bias
        return FusionOutput(fused, per)


@FUSIONS.register("sum", options=NoOptions)
def sum_fusion(options: NoOptions, feature_dims: dict[str, int], num_outputs: int) -> SumFusion:
    """Sum of per-modality linear heads."""
    return SumFusion(feature_dims, num_outputs)


@FUSIONS.register("late", options=NoOptions)
def late_fusion(options: NoOptions, feature_dims: dict[str, int], num_outputs: int) -> LateFusion:
    """Mean of per-modality linear heads' logits."""
    return LateFusion(feature_dims, num_outputs)


@FUSIONS.register("concat", options=NoOptions)
def concat_fusion(options: NoOptions, feature_dims: dict[str, int], num_outputs: int) -> ConcatFusion:
    """One linear head over the concatenated features."""
    return ConcatFusion(feature_dims, num_outputs)

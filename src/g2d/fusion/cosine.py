"""MMCosine (Xu, Feng, Zhang & Hu, "MMCosine: Multi-Modal Cosine Loss Towards Balanced
Audio-Visual Fine-Grained Learning", ICASSP 2023): a cosine-normalised fusion head.

Each modality has a linear head without bias whose class weights ``W_{m,c}`` and the features
``f_m`` are both L2-normalised, so modality m's logit for class c is ``s · cos θ_{m,c}`` with
``cos θ_{m,c} = W_{m,c}·f_m / (‖W_{m,c}‖ ‖f_m‖)``; the fused logits are their sum over modalities,
trained with the usual cross-entropy (the paper's MMCosine loss is this cross-entropy). Because every
modality's logits are bounded by ``s`` whatever its feature norm, a modality cannot dominate the
sum by growing its features, which is the paper's remedy for imbalance. ``z_s^m`` is modality m's
own ``s · cos θ_m``. Any number of modalities (one normalised head each, summed).

Decided where the paper is silent or where we could not read it: the scale ``s`` defaults to 10
(the paper tunes it per data set); a zero feature vector gives cosine 0 (normalisation with a small
epsilon). It composes with any method; ``g2d bench table1`` runs it as its own column with joint
training's loss. Classification only: a bounded cosine is no regression output.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from g2d.fusion.base import FUSIONS, Fusion, FusionOutput
from g2d.registry import ExperimentContext, Options


class MMCosineOptions(Options):
    scale: float = Field(10.0, gt=0, description="s in s · cos θ (the logits' bound)")

    def check_against(self, context: ExperimentContext) -> None:
        if context.task != "classification":
            raise ValueError(f"mmcosine is a classification head (bounded cosine logits); the task is {context.task!r}")


class MMCosineFusion(Fusion):
    def __init__(self, feature_dims: dict[str, int], num_outputs: int, scale: float) -> None:
        super().__init__(feature_dims, num_outputs)
        self.scale = scale
        self.weights = nn.ParameterDict({m: nn.Parameter(torch.empty(num_outputs, d)) for m, d in feature_dims.items()})
        for w in self.weights.values():
            nn.init.xavier_normal_(w)

    def forward(self, features: dict[str, Tensor]) -> FusionOutput:
        per = {m: self.scale * F.normalize(features[m], dim=-1) @ F.normalize(self.weights[m], dim=-1).T
               for m in self.modalities}  # (B, C) each, in [-s, s]
        return FusionOutput(torch.stack([per[m] for m in self.modalities]).sum(0), per)


@FUSIONS.register("mmcosine", options=MMCosineOptions)
def mmcosine(options: MMCosineOptions, feature_dims: dict[str, int], num_outputs: int) -> MMCosineFusion:
    """MMCosine: per-modality cosine-normalised heads (s · cos θ), summed."""
    return MMCosineFusion(feature_dims, num_outputs, options.scale)

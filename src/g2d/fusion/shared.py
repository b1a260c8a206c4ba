"""``shared``: one linear classifier shared by every modality (MLA's "shared head").

``z_s^m = W · a_m(f_m) + b`` with the same ``W, b`` for every modality; the fused logits are the
mean of the ``z_s^m`` (decision-level fusion through one head). ``a_m`` is the identity when all
modalities have the same feature width and ``width`` is unset; otherwise a per-modality linear
adapter maps ``f_m`` to ``width`` (default: the largest feature width), so encoders of different
widths can share the classifier. Any number of modalities.
"""
from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor, nn

from g2d.encoders.registry import init_weights
from g2d.fusion.base import FUSIONS, Fusion, FusionOutput
from g2d.registry import Options


class SharedOptions(Options):
    width: int | None = Field(None, gt=0, description="input width of the shared classifier; null = the "
                              "common feature width (no adapters) or, if widths differ, the largest one")


class SharedHeadFusion(Fusion):
    """Per-modality adapters (or none) into one shared linear classifier; fused = mean of outputs."""

    def __init__(self, feature_dims: dict[str, int], num_outputs: int, width: int | None = None) -> None:
        super().__init__(feature_dims, num_outputs)
        widths = set(feature_dims.values())
        adapt = width is not None or len(widths) > 1
        self.width = width or max(widths)
        self.adapters = nn.ModuleDict({m: nn.Linear(d, self.width) if adapt else nn.Identity()
                                       for m, d in feature_dims.items()})
        self.classifier = nn.Linear(self.width, num_outputs)
        init_weights(self)

    def embed(self, modality: str, feature: Tensor) -> Tensor:
        """The classifier's input for ``modality``: (B, D_m) -> (B, width)."""
        return self.adapters[modality](feature)

    def modality_path(self, modality: str, feature: Tensor) -> Tensor:
        return self.classifier(self.embed(modality, feature))

    @property
    def shared_classifier(self) -> nn.Linear:
        return self.classifier

    def forward(self, features: dict[str, Tensor]) -> FusionOutput:
        per = {m: self.classifier(self.embed(m, features[m])) for m in self.modalities}
        fused = torch.stack([per[m] for m in self.modalities]).mean(0)
        return FusionOutput(fused, per)


@FUSIONS.register("shared", options=SharedOptions)
def shared_fusion(options: SharedOptions, feature_dims: dict[str, int], num_outputs: int) -> SharedHeadFusion:
    """One linear classifier shared by every modality (MLA's shared head); fused = mean of outputs."""
    return SharedHeadFusion(feature_dims, num_outputs, options.width)

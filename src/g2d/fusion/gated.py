"""Bi-linear gated fusion ("BiGated", paper A.3.4) for any M >= 2 modalities.

Each modality passes through its own linear layer, ``h_m = W_m f_m + b_m``; a modality's hidden
state through a sigmoid, ``g_m = σ(h_m)``, is a gate that scales the *other* modalities' hidden
states (a product of two linear maps, hence bi-linear)::

    gate = None (default, every modality gates every other one):
        u = Σ_n ḡ_{-n} ⊙ h_n,   ḡ_{-n} = mean of g_m over m ≠ n
        M = 2:  u = σ(h_2) ⊙ h_1 + σ(h_1) ⊙ h_2         (both directions)
    gate = "<modality g>" (one-directional, as OGM-GE's GatedFusion):
        u = g_g ⊙ Σ_{n ≠ g} h_n
    z_s = W_out u + b_out

For M > 2 the all-directional form averages the gates of the M - 1 others, so the scale of ``u``
does not grow with M.

``z_s^m`` (see :class:`~g2d.fusion.base.InteractingFusion`): the head run with every other
modality's features zeroed, i.e. the other modalities contribute only their biases ``b_n`` (as
hidden states and, through ``σ(b_n)``, as gates).
"""
from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor, nn

from g2d.encoders.registry import init_weights
from g2d.fusion.base import FUSIONS, InteractingFusion, InteractingOptions
from g2d.registry import ExperimentContext


class GatedOptions(InteractingOptions):
    hidden: int = Field(256, gt=0, description="width of each modality's hidden state")
    gate: str | None = Field(None, description="the one modality that gates the others; "
                             "default: every modality gates every other one")

    def check_against(self, context: ExperimentContext) -> None:
        super().check_against(context)
        self.check_modality("gate", self.gate, context)


class GatedFusion(InteractingFusion):
    def __init__(self, feature_dims: dict[str, int], num_outputs: int, hidden: int = 256,
                 gate: str | None = None) -> None:
        super().__init__(feature_dims, num_outputs)
        if gate is not None and gate not in feature_dims:
            raise ValueError(f"gate: unknown modality {gate!r}; expected one of {list(self.modalities)}")
        self.gate = gate
        self.hidden = hidden
        self.project = nn.ModuleDict({m: nn.Linear(d, hidden) for m, d in feature_dims.items()})
        self.out = nn.Linear(hidden, num_outputs)
        init_weights(self)

    def fuse(self, features: dict[str, Tensor]) -> Tensor:
        h = torch.stack([self.project[m](features[m]) for m in self.modalities])  # (M, B, hidden)
        g = torch.sigmoid(h)
        if self.gate is None:
            others = (g.sum(0, keepdim=True) - g) / (len(self.modalities) - 1)  # ḡ_{-n}
            u = (others * h).sum(0)
        else:
            k = self.modalities.index(self.gate)
            u = g[k] * (h.sum(0) - h[k])
        return self.out(u)


@FUSIONS.register("gated", options=GatedOptions)
def gated_fusion(options: GatedOptions, feature_dims: dict[str, int], num_outputs: int) -> GatedFusion:
    """Bi-linear gated: each modality's sigmoid gate scales the other modalities' hidden states."""
    return GatedFusion(feature_dims, num_outputs, options.hidden, options.gate)

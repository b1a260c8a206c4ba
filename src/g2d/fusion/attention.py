"""Cross-attention fusion (paper A.3.5), all-directional for any M >= 2 modalities.

Encoders give one pooled feature vector per modality, and attention over a single key is a mere
linear map (its softmax weight is always 1). So each modality's vector is first projected into
``tokens`` learnt tokens of width ``width``; then every modality attends to the tokens of all the
others, is normalised, pooled and projected::

    x_m = reshape(P_m f_m, (tokens, width))                      # (B, T, d)
    a_m = MHA_m(query = x_m, keys = values = [x_n for n ≠ m])   # (B, T, d), over (M - 1)·T keys
    r_m = mean over tokens of LayerNorm_m(x_m + a_m)             # (B, d)
    z_s = W_out [r_1; …; r_M] + b_out

M = 2 gives the bidirectional form (1 attends to 2 and 2 to 1); for M > 2 each modality's
queries see the keys of all M - 1 others at once (all-directional), with one attention module
per attending modality. ``tokens = 1`` is the classic pooled-vector variant.

``z_s^m`` (see :class:`~g2d.fusion.base.InteractingFusion`): the head run with every other
modality's features zeroed, so the others' tokens are their projection biases only.
"""
from __future__ import annotations

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from g2d.encoders.registry import init_weights
from g2d.fusion.base import FUSIONS, InteractingFusion, InteractingOptions


class CrossAttentionOptions(InteractingOptions):
    width: int = Field(64, gt=0, description="token width d (divisible by heads)")
    heads: int = Field(4, gt=0, description="attention heads")
    tokens: int = Field(4, gt=0, description="tokens each modality's feature vector is projected to")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> "CrossAttentionOptions":
        if self.width % self.heads:
            raise ValueError(f"width: must be divisible by heads={self.heads}, got {self.width}")
        return self


class CrossAttentionFusion(InteractingFusion):
    def __init__(self, feature_dims: dict[str, int], num_outputs: int, width: int = 64, heads: int = 4,
                 tokens: int = 4) -> None:
        super().__init__(feature_dims, num_outputs)
        self.width, self.tokens = width, tokens
        self.tokenise = nn.ModuleDict({m: nn.Linear(d, tokens * width) for m, d in feature_dims.items()})
        self.attend = nn.ModuleDict({m: nn.MultiheadAttention(width, heads, batch_first=True)
                                     for m in self.modalities})
        self.norm = nn.ModuleDict({m: nn.LayerNorm(width) for m in self.modalities})
        self.out = nn.Linear(len(self.modalities) * width, num_outputs)
        init_weights(self)

    def fuse(self, features: dict[str, Tensor]) -> Tensor:
        x = {m: self.tokenise[m](features[m]).unflatten(-1, (self.tokens, self.width))  # (B, T, d)
             for m in self.modalities}
        refined = []
        for m in self.modalities:
            context = torch.cat([x[n] for n in self.modalities if n != m], dim=1)  # (B, (M-1)T, d)
            attended, _ = self.attend[m](x[m], context, context, need_weights=False)
            refined.append(self.norm[m](x[m] + attended).mean(1))  # (B, d)
        return self.out(torch.cat(refined, dim=-1))


@FUSIONS.register("cross-attention", options=CrossAttentionOptions)
def cross_attention_fusion(options: CrossAttentionOptions, feature_dims: dict[str, int],
                           num_outputs: int) -> CrossAttentionFusion:
    """Cross-attention: every modality attends to all the others' tokens, normalised, projected."""
    return CrossAttentionFusion(feature_dims, num_outputs, options.width, options.heads, options.tokens)

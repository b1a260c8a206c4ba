"""FiLM fusion (feature-wise linear modulation, Perez et al. 2018) for any M >= 2 modalities.

One modality, the *conditioned* one, is projected to a hidden vector ``h``; every other modality
(a *conditioner*) predicts a scale and a shift that modulate ``h`` feature by feature::

    h_0 = P f_base                                  # (B, hidden)
    γ_k, β_k = split(W_k f_{c_k})                   # conditioner k of M - 1, in data set order
    h_k = (1 + γ_k) ⊙ h_{k-1} + β_k                 # a chain of FiLM layers
    z_s = W_out h_{M-1} + b_out

With M = 2 this is the usual FiLM head (one modality conditions the other); with M > 2 the
conditioners are applied one after another, so each modulates the state the previous ones left.
The scale is parametrised as ``1 + γ`` so an untrained layer starts near the identity.

``z_s^m`` (see :class:`~g2d.fusion.base.InteractingFusion`): the head run with every other
modality's features zeroed. For the conditioned modality that means every FiLM layer applies only
its biases; for a conditioner it means ``h_0 = b_P`` and the other layers apply their biases.
"""
from __future__ import annotations

from pydantic import Field
from torch import Tensor, nn

from g2d.encoders.registry import init_weights
from g2d.fusion.base import FUSIONS, InteractingFusion, InteractingOptions
from g2d.registry import ExperimentContext


class FiLMOptions(InteractingOptions):
    hidden: int = Field(256, gt=0, description="width of the modulated representation")
    conditioned: str | None = Field(None, description="the modality that is modulated; default: the "
                                    "last modality (so the first conditions it, as in OGM-GE's FiLM)")

    def check_against(self, context: ExperimentContext) -> None:
        super().check_against(context)
        self.check_modality("conditioned", self.conditioned, context)


class FiLMFusion(InteractingFusion):
    def __init__(self, feature_dims: dict[str, int], num_outputs: int, hidden: int = 256,
                 conditioned: str | None = None) -> None:
        super().__init__(feature_dims, num_outputs)
        self.conditioned = conditioned or self.modalities[-1]
        if self.conditioned not in feature_dims:
            raise ValueError(f"conditioned: unknown modality {self.conditioned!r}; "
                             f"expected one of {list(self.modalities)}")
        self.conditioners = tuple(m for m in self.modalities if m != self.conditioned)
        self.hidden = hidden
        self.project = nn.Linear(feature_dims[self.conditioned], hidden)
        self.film = nn.ModuleDict({m: nn.Linear(feature_dims[m], 2 * hidden) for m in self.conditioners})
        self.out = nn.Linear(hidden, num_outputs)
        init_weights(self)

    def fuse(self, features: dict[str, Tensor]) -> Tensor:
        h = self.project(features[self.conditioned])  # (B, hidden)
        for m in self.conditioners:
            gamma, beta = self.film[m](features[m]).chunk(2, dim=-1)  # (B, hidden) each
            h = (1 + gamma) * h + beta
        return self.out(h)


@FUSIONS.register("film", options=FiLMOptions)
def film_fusion(options: FiLMOptions, feature_dims: dict[str, int], num_outputs: int) -> FiLMFusion:
    """FiLM: the other modalities scale and shift one modality's features, in a chain for M > 2."""
    return FiLMFusion(feature_dims, num_outputs, options.hidden, options.conditioned)

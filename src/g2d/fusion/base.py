"""The fusion contract: ``forward(features) -> FusionOutput(logits, modality_logits)``.

``modality_logits[m]`` is modality m's own path through the fusion head (``z_s^m`` in the spec);
per-modality accuracy, the confidence ratio and the missing-modality analysis all read it.
A factory has the signature ``build(options, feature_dims, num_outputs) -> Fusion``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn

from g2d.registry import ExperimentContext, Options, Registry


@dataclass
class FusionOutput:
    logits: Tensor  # (B, C) fused
    modality_logits: dict[str, Tensor]  # modality -> (B, C)


class Fusion(nn.Module):
    """Base class; ``modalities`` fixes the order in which features are combined."""

    def __init__(self, feature_dims: dict[str, int], num_outputs: int) -> None:
        super().__init__()
        self.modalities = tuple(feature_dims)
        self.feature_dims = dict(feature_dims)
        self.num_outputs = num_outputs

    def forward(self, features: dict[str, Tensor]) -> FusionOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def modality_path(self, modality: str, feature: Tensor) -> Tensor:
        """``z_s^m`` from ``f_s^m`` alone: the fusion with every other modality's features set to zero
        (how every fusion defines ``z_s^m``: it depends on ``f_s^m`` only). A fusion whose paths are
        separable overrides it to skip the other modalities."""
        features = {k: feature if k == modality else feature.new_zeros(feature.shape[0], self.feature_dims[k])
                    for k in self.modalities}
        return self(features).modality_logits[modality]

    @property
    def shared_classifier(self) -> nn.Linear | None:
        """The one linear classifier every modality's path ends in (MLA's shared head), or None."""
        return None


FUSIONS: Registry[Callable[..., Fusion]] = Registry("fusion")


def build_fusion(name: str, options: dict[str, Any] | None, feature_dims: dict[str, int],
                 num_outputs: int) -> Fusion:
    return FUSIONS.create(name, options, feature_dims=dict(feature_dims), num_outputs=num_outputs)


class InteractingFusion(Fusion):
    """Base for fusions whose modalities interact inside the head (FiLM, gated, cross-attention).

    Subclasses write only ``fuse(features) -> logits``. ``z_s^m`` is defined as the fused head
    evaluated with every *other* modality's features replaced by zeros ("modality m alone"), so it
    depends on ``f_s^m`` only and equals what the missing-modality analysis sees when all other
    modalities are dropped. The M + 1 evaluations run as one call on a batch stacked M + 1 times
    (the heads hold no batch statistics, so stacking does not change any result).
    """

    min_modalities = 2

    def __init__(self, feature_dims: dict[str, int], num_outputs: int) -> None:
        super().__init__(feature_dims, num_outputs)
        if len(self.modalities) < self.min_modalities:
            raise ValueError(f"{type(self).__name__} needs at least {self.min_modalities} modalities, "
                             f"got {list(self.modalities)}")

    def fuse(self, features: dict[str, Tensor]) -> Tensor:  # pragma: no cover - abstract
        """(B, D_m) per modality -> (B, C) fused logits."""
        raise NotImplementedError

    def forward(self, features: dict[str, Tensor]) -> FusionOutput:
        batch = features[self.modalities[0]].shape[0]
        stacked = {}
        for n in self.modalities:
            f = features[n]
            # variant 0 keeps everyone; variant 1 + k keeps only modality k
            stacked[n] = torch.cat([f] + [f if k == n else torch.zeros_like(f) for k in self.modalities])
        out = self.fuse(stacked).split(batch)  # M + 1 chunks of (B, C)
        return FusionOutput(out[0], {m: out[1 + i] for i, m in enumerate(self.modalities)})


class InteractingOptions(Options):
    """Options of an :class:`InteractingFusion`; refuses experiments with fewer than 2 modalities."""

    def check_against(self, context: ExperimentContext) -> None:
        if len(context.modalities) < 2:
            raise ValueError(f"fusion needs at least 2 modalities, the data set has {list(context.modalities)}")

    @staticmethod
    def check_modality(field: str, value: str | None, context: ExperimentContext) -> None:
        """Refuse a modality-valued option that names no modality of the data set."""
        if value is not None and value not in context.modalities:
            raise ValueError(f"{field}: unknown modality {value!r}; expected one of {list(context.modalities)}")

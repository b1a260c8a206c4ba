"""The fusion contract: ``forward(features) -> FusionOutput(logits, modality_logits)``.

``modality_logits[m]`` is modality m's own path through the fusion head (``z_s^m`` in the spec);
per-modality accuracy, the confidence ratio and the missing-modality analysis all read it.
A factory has the signature ``build(options, feature_dims, num_outputs) -> Fusion``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import Tensor, nn

from g2d.registry import Registry


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


FUSIONS: Registry[Callable[..., Fusion]] = Registry("fusion")


def build_fusion(name: str, options: dict[str, Any] | None, feature_dims: dict[str, int],
                 num_outputs: int) -> Fusion:
    return FUSIONS.create(name, options, feature_dims=dict(feature_dims), num_outputs=num_outputs)

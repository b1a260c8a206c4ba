"""DLMG, dynamically learning the modality gap (Yang et al., NeurIPS 2024).

The paper traces modality imbalance to label fitting: the modalities fit the category labels at
different speeds. It intervenes with an unsupervised *modality-matching* (contrastive) loss that
pulls the representations of the same sample from different modalities together and pushes other
samples apart, and integrates it with the supervised multimodal loss through a weight that changes
during training:

    L = (1 − α_t) · L_task(z_s, y) + α_t · L_match

- ``L_match``: symmetric InfoNCE between every pair of modalities (a, b) — for sample i the
  positive is the same sample's embedding in the other modality, the negatives the other samples
  of the batch — on L2-normalised embeddings with temperature τ, averaged over the M(M−1)/2 pairs
  (any M ≥ 2; for M = 2 it is the CLIP loss). Embeddings: the encoders' features ``f_s^m`` when all
  have the same width (``space: auto``/``features``), otherwise the per-modality outputs ``z_s^m``
  (one common space whatever the encoders; ``space: logits``).
- ``α_t``, heuristic strategy (the paper's ω(t) = 1 − e^{−1/t}, monotonically decreasing, with
  t = epoch + 1): matching dominates early (α_1 ≈ 0.63) and label fitting takes over as training
  goes on — feature learning first, fitting the labels to those features later. ``constant`` keeps
  α fixed (ablation).

Not implemented: the paper's learning-based strategy (α learnt by bi-level optimisation); the
heuristic is its other published strategy, and the schedule plus the matching loss are the core
mechanism. Works for classification and regression (the matching loss needs no labels).
"""
from __future__ import annotations

import math
from itertools import combinations
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.model import MultimodalModel
from g2d.objectives import Objective, task_loss
from g2d.registry import Options
from g2d.validation import ConfigError

Space = Literal["auto", "features", "logits"]


class DLMGOptions(Options):
    strategy: Literal["heuristic", "constant"] = Field("heuristic", description="α_t schedule: heuristic "
                                                       "(1 − e^{−1/t}, the paper's) | constant (α fixed)")
    alpha: float = Field(0.5, ge=0, le=1, description="α for strategy 'constant'")
    temperature: float = Field(0.1, gt=0, description="InfoNCE temperature τ")
    space: Space = Field("auto", description="embeddings the matching loss compares: features (f_s^m, equal "
                         "widths needed) | logits (z_s^m) | auto (features if widths are equal, else logits)")


def heuristic_alpha(epoch: int) -> float:
    """ω(t) = 1 − e^{−1/t} with t = epoch + 1: the matching loss's weight, decreasing in t."""
    return 1.0 - math.exp(-1.0 / (epoch + 1))


def info_nce(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """Symmetric InfoNCE of paired rows (row i of a matches row i of b): (B, D) each -> scalar."""
    a, b = F.normalize(a.float(), dim=-1), F.normalize(b.float(), dim=-1)
    sim = a @ b.T / temperature  # (B, B)
    labels = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(sim, labels) + F.cross_entropy(sim.T, labels))


def matching_loss(embeddings: dict[str, Tensor], temperature: float) -> Tensor:
    """Mean symmetric InfoNCE over all modality pairs."""
    pairs = list(combinations(embeddings, 2))
    return torch.stack([info_nce(embeddings[a], embeddings[b], temperature) for a, b in pairs]).mean()


def resolve_space(space: Space, model: MultimodalModel, task: str) -> str:
    widths = set(model.fusion.feature_dims.values())
    if space == "auto":
        space = "features" if len(widths) == 1 else "logits"
    if space == "features" and len(widths) > 1:
        raise ConfigError(f"method 'dlmg': space=features compares f_s^m across modalities and needs equal "
                          f"feature widths, got {dict(model.fusion.feature_dims)}; use space: logits")
    if space == "logits" and model.fusion.num_outputs < 2:
        raise ConfigError("method 'dlmg': space=logits needs at least 2 outputs (a 1-d output cannot be "
                          "contrasted); give the encoders equal feature widths and use space: features")
    return space


class DLMGMethod(Method):
    """The objective's weights follow α_t; the step is the default one."""

    def __init__(self, task: str, options: DLMGOptions, space: str) -> None:
        self.options, self.space = options, space
        self.alpha = self.alpha_at(0)

        def match(o, b, t) -> Tensor:
            embeddings = o.features if space == "features" else o.modality_logits
            return matching_loss(embeddings, options.temperature)

        super().__init__(Objective(task, {
            "task": (1.0, lambda o, b, t: (1 - self.alpha) * task_loss(o.logits, b.target, task)),
            "match": (1.0, lambda o, b, t: self.alpha * match(o, b, t)),
        }))

    def alpha_at(self, epoch: int) -> float:
        return heuristic_alpha(epoch) if self.options.strategy == "heuristic" else self.options.alpha

    def training_step(self, runner, state):
        self.alpha = self.alpha_at(state.epoch)
        return super().training_step(runner, state)


@METHODS.register("dlmg", options=DLMGOptions)
def dlmg(options: DLMGOptions, context: MethodContext) -> Method:
    """DLMG (Yang et al. 2024): supervised loss + cross-modal contrastive matching, weighted by a
    decreasing α_t (matching first, label fitting later)."""
    return DLMGMethod(context.task, options, resolve_space(options.space, context.model, context.task))

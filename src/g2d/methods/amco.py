"""AMCo, adaptive mask co-optimisation (Zhou, Liang, Zheng, Xuan & Kumada, "Adaptive Mask
Co-optimization for Modal Dependence in Multimodal Learning", ICASSP 2023): the modality the model
depends on is made harder to learn by masking a growing share of its features, while
co-optimising every modality's own loss keeps the dependent modality from degrading.

Per step inside ``[start_epoch, end_epoch)``: the masking ratio is
``p_t = sin(π/2 · min(ε, l_t) / ε)``, where ``l_t`` starts at 0 every epoch and grows by
``epoch / 10`` after each step (so epoch 0 never masks and later epochs ramp up faster). Once a
modality is *dependent*, ``⌊p_t · D⌋`` of its D feature units (one random set per step, shared by
the batch) are zeroed and the rest scaled by ``1 / max(1 − p_t, 0.1)``. The loss is
``L_task(z_s) + Σ_m L_task(z_s^m)`` on the masked features (the co-optimisation). After the step,
the softmax over the concatenated per-modality logits ``[z_s^1 | … | z_s^M]`` (M·C entries) gives
each modality's share of the probability mass (batch mean); the first modality whose share is at
least ``σ`` becomes dependent for the rest of the epoch (the flag is cleared at each epoch start).
Outside the window: the fused task loss only, no mask.

Decided where the paper is silent or where we could not read it: only the abstract of the paper
was readable here, so the schedule, mask and dependence test follow BalanceMM's public
implementation (Xu et al., 2025; learned from, not copied); its defaults could not be read, so
``σ: 0.5`` (the dependent modality holds at least half the probability mass; for M = 2 the larger
share) and ``ε: 10``; the mask is drawn from torch's generator, which the trainer seeds per epoch.
Any number of modalities (with M > 2 a modality must out-weigh the others together at σ = 0.5).
Classification only.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.model import ModelOutput
from g2d.modulators.base import StepState
from g2d.modulators.ogm import EpochWindowOptions
from g2d.objectives import task_loss, task_objective
from g2d.registry import ExperimentContext

if TYPE_CHECKING:
    from g2d.step import StepRunner


class AMCoOptions(EpochWindowOptions):
    sigma: float = Field(0.5, gt=0, le=1, description="σ: softmax-mass share that makes a modality dependent")
    eps: float = Field(10.0, gt=0, description="ε: l_t at which the masking ratio p_t reaches 1")

    def check_against(self, context: ExperimentContext) -> None:
        super().check_against(context)
        if context.task != "classification":
            raise ValueError(f"amco compares softmax shares of the modalities' outputs (classification); "
                             f"the task is {context.task!r}")


def mask_ratio(l_t: float, eps: float) -> float:
    """``p_t = sin(π/2 · min(ε, l_t) / ε)``."""
    return math.sin(math.pi / 2 * min(eps, l_t) / eps)


def feature_mask(width: int, ratio: float, device: torch.device | None = None) -> Tensor:
    """(D,) mask: ``⌊ratio · D⌋`` random units 0, the others ``1 / max(1 − ratio, 0.1)``."""
    dropped = torch.randperm(width)[: int(ratio * width)]
    mask = torch.full((width,), 1.0 / max(1.0 - ratio, 0.1))
    mask[dropped] = 0.0
    return mask.to(device)


def modality_shares(modality_logits: dict[str, Tensor]) -> dict[str, float]:
    """Batch-mean share of each modality in the softmax over the concatenated per-modality logits."""
    names = list(modality_logits)
    probs = F.softmax(torch.cat([modality_logits[m].detach().float() for m in names], -1), -1)
    classes = modality_logits[names[0]].shape[-1]
    return {m: float(probs[:, i * classes:(i + 1) * classes].sum(-1).mean()) for i, m in enumerate(names)}


class AMCoMethod(Method):
    def __init__(self, task: str, options: AMCoOptions) -> None:
        super().__init__(task_objective(task))
        self.task, self.options = task, options
        self.dependent: str | None = None
        self.l_t = 0.0
        self._epoch = -1
        self.last_ratio = 0.0

    def in_window(self, epoch: int) -> bool:
        o = self.options
        return o.start_epoch <= epoch and (o.end_epoch is None or epoch < o.end_epoch)

    def forward_objective(self, runner: "StepRunner", state: StepState) -> tuple[dict[str, Tensor], Tensor]:
        model, batch = runner.model, state.batch
        if state.epoch != self._epoch:  # a new epoch: no dependent modality, the ramp restarts
            self._epoch, self.dependent, self.l_t = state.epoch, None, 0.0
        state.active = self.select_active(state)
        window = self.in_window(state.epoch)
        with runner.autocast():
            features = model.encode(batch.inputs, state.active, batch.masks)
            if window and self.dependent is not None:
                self.last_ratio = mask_ratio(self.l_t, self.options.eps)
                f = features[self.dependent]
                features = {**features, self.dependent: f * feature_mask(f.shape[1], self.last_ratio, f.device).to(f.dtype)}
            fused = model.fusion(features)
            state.output = ModelOutput(fused.logits, fused.modality_logits, features)
            terms = {"task": task_loss(fused.logits, batch.target, self.task)}
            if window:
                for m, z in fused.modality_logits.items():
                    terms[f"unimodal_{m}"] = task_loss(z, batch.target, self.task)
            loss = torch.stack(list(terms.values())).sum()
        if window:
            self.l_t += state.epoch / 10
            if self.dependent is None:
                shares = modality_shares(fused.modality_logits)
                self.dependent = next((m for m, s in shares.items() if s >= self.options.sigma), None)
        return terms, loss

    def epoch_summary(self) -> dict[str, Any]:
        summary = super().epoch_summary()
        summary["amco"] = {"dependent": self.dependent, "mask_ratio": round(self.last_ratio, 4)}
        return summary


@METHODS.register("amco", options=AMCoOptions)
def amco(options: AMCoOptions, context: MethodContext) -> Method:
    """AMCo: a growing feature mask on the dependent modality, co-optimised with every modality's own loss."""
    return AMCoMethod(context.task, options)

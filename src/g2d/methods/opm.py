"""OPM, on-the-fly prediction modulation (Wei, Hu et al., "On-the-fly Modulation for Balanced
Multimodal Learning", TPAMI 2024 — the journal version of OGM-GE): during the feed-forward, the
dominant modality's features are dropped for some samples, so the fused prediction leans on the
others and their encoders receive more of the loss.

Per step (inside ``[start_epoch, end_epoch)``): every modality's score is the batch sum of its own
output's true-class probability (``z_s^m`` of the full features, no gradient), as in OGM; its
discrepancy ratio ``ρ_m`` is the score over the mean of the others' (``reference``; for M = 2 the
other's score). A dominant modality (``ρ_m > 1``) gets the drop probability
``q_m = min(1, q_base · (1 + λ · tanh(ρ_m − 1)))``, the others ``q_m = 0``. With probability
``p_exe`` the step drops: each sample keeps modality m's features with probability ``1 − q_m``, and
every kept feature is scaled by ``1 / (1 − θ)``, ``θ = Σ_m d_m q_m / Σ_m d_m`` (feature widths
``d_m``), so the expected fused input is unchanged; samples that lost every modality leave the loss.
The loss is the task loss of the fused head on the modulated features. Evaluation is untouched.

Decided where the paper is silent or where we could not read it: ``q_base: 0.5``, ``λ: 1``,
``p_exe: 0.7`` (the execution probability of the public BalanceMM re-implementation); the ratio
divides by the *mean* of the other modalities for M > 2 (as our OGM does), so every modality above
the others' average may be dropped; the random draws use torch's generator, which the trainer seeds
per epoch, so runs repeat. Any number of modalities.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from pydantic import Field
from torch import Tensor

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.model import ModelOutput
from g2d.modulators.base import StepState
from g2d.modulators.ogm import EpochWindowOptions, Reference, discrepancy_ratios, student_scores
from g2d.objectives import task_loss, task_objective

if TYPE_CHECKING:
    from g2d.step import StepRunner


class OPMOptions(EpochWindowOptions):
    q_base: float = Field(0.5, gt=0, le=1, description="base drop probability of a dominant modality")
    lam: float = Field(1.0, ge=0, description="λ in q = q_base · (1 + λ · tanh(ρ − 1))")
    p_exe: float = Field(0.7, ge=0, le=1, description="probability that a step drops features at all")
    reference: Reference = Field("mean", description="the others' score the ratio divides by: mean | max | min")


def drop_probabilities(scores: dict[str, Tensor], q_base: float, lam: float,
                       reference: Reference = "mean") -> dict[str, Tensor]:
    """``q_m = min(1, q_base (1 + λ tanh(ρ_m − 1)))`` where ``ρ_m > 1``, else 0 (0-d tensors)."""
    ratios = discrepancy_ratios(scores, reference)
    return {m: torch.where(r > 1, (q_base * (1 + lam * torch.tanh(r - 1))).clamp(max=1.0), torch.zeros_like(r))
            for m, r in ratios.items()}


def drop_features(features: dict[str, Tensor], q: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
    """Keep each sample's modality m with probability ``1 − q_m`` and scale by ``1/(1 − θ)``; returns
    the modulated features and a (B,) mask of the samples that kept at least one modality."""
    widths = {m: f.shape[1] for m, f in features.items()}
    theta = sum(widths[m] * q[m] for m in features) / sum(widths.values())
    scale = 1.0 / (1.0 - theta).clamp_min(1e-5)
    kept, out = [], {}
    for m, f in features.items():
        keep = torch.bernoulli((1.0 - q[m]).expand(f.shape[0]).to(f.device, torch.float32))  # (B,)
        kept.append(keep)
        out[m] = f * (keep * scale).to(f.dtype)[:, None]
    return out, torch.stack(kept).amax(0) > 0


class OPMMethod(Method):
    def __init__(self, task: str, options: OPMOptions) -> None:
        super().__init__(task_objective(task))  # the task loss, here on the modulated features
        self.task, self.options = task, options

    def in_window(self, epoch: int) -> bool:
        o = self.options
        return o.start_epoch <= epoch and (o.end_epoch is None or epoch < o.end_epoch)

    def forward_objective(self, runner: "StepRunner", state: StepState) -> tuple[dict[str, Tensor], Tensor]:
        model, batch = runner.model, state.batch
        state.active = self.select_active(state)
        with runner.autocast():
            features = model.encode(batch.inputs, state.active, batch.masks)
            full = model.fusion(features)
            state.output = ModelOutput(full.logits, full.modality_logits, features)
            target = batch.target
            logits = full.logits
            if self.in_window(state.epoch) and float(torch.rand(())) < self.options.p_exe:
                q = drop_probabilities(student_scores(state), self.options.q_base, self.options.lam,
                                       self.options.reference)
                dropped, kept = drop_features(features, q)
                logits, target = model.fusion(dropped).logits[kept], target[kept]
            loss = task_loss(logits, target, self.task) if len(target) else logits.sum() * 0
        return {"task": loss}, loss


@METHODS.register("opm", options=OPMOptions)
def opm(options: OPMOptions, context: MethodContext) -> Method:
    """OPM: drop the dominant modality's features on the fly (per sample), by its discrepancy ratio."""
    return OPMMethod(context.task, options)

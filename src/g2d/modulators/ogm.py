"""On-the-fly Gradient Modulation, OGM and OGM-GE (Peng et al., CVPR 2022).

Each step, after backward, every modality gets a *score*: the batch sum of the softmax probability
its own output ``z_s^m`` gives the true class (regression: ``Σ 1 − |σ(z_s^m) − y|``). The
discrepancy ratio of modality m is its score over a reference score of the *other* modalities, and
its encoder's gradient is scaled by

    k^m = 1 − tanh(α · ratio^m)   if ratio^m > 1,   else 1          (OGM-GE paper, Eq. 10)

This is the formula of the paper's Eq. 10 and of the official code (``1 - tanh(alpha *
relu(ratio))``; the ReLU is a no-op on a positive ratio). Note it jumps from 1 to ``1 − tanh(α)`` as
the ratio crosses 1; ``coefficient: shifted`` gives the continuous variant
``1 − tanh(α · (ratio − 1))`` used by some re-implementations. The default is the paper's.

OGM-GE adds Gaussian noise ``N(0, std(g))`` to every modulated gradient tensor (std of the tensor's
own gradient before scaling), for every modality inside the modulation window — also those whose
coefficient is 1 — as the official code does.

M > 2 modalities: the reference is the ``mean`` (default), ``max`` or ``min`` of the other
modalities' scores; for M = 2 all three equal the other modality's score, which is the paper's
ratio. (A ratio to the *sum* of all scores never exceeds 1, so OGM built on it would never fire.)
With ``max`` only the single most confident modality can be suppressed; with ``mean`` every
modality above the average of the others is.

The same machinery with the *teachers'* confidences ρ^m as scores is the partial suppression of
the G2D ablation (``modulators/partial.py``).
"""
from __future__ import annotations

from typing import Callable, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from g2d.modulators.base import MODULATORS, Modulator, ModulatorContext, StepState
from g2d.modulators.gradients import PARAMS_DESCRIPTION, ParamSelection, encoder_parameter_sets, scale_gradients_
from g2d.registry import ExperimentContext, Options
from g2d.scoring import true_label_confidence

Reference = Literal["mean", "max", "min"]
Formula = Literal["paper", "shifted"]
ScoreSource = Callable[[StepState], dict[str, Tensor]]


class EpochWindowOptions(Options):
    start_epoch: int = Field(0, ge=0, description="first epoch (0-based) in which gradients are modulated")
    end_epoch: int | None = Field(None, gt=0, description="modulation stops before this epoch; null = until "
                                  "the end (the official OGM-GE default modulates epochs 0-50 of 100)")

    def check_against(self, context: ExperimentContext) -> None:
        if self.start_epoch >= context.epochs:
            raise ValueError(f"start_epoch: {self.start_epoch} is not before student.epochs = {context.epochs}; "
                             f"the modulation would never run")
        if self.end_epoch is not None and self.end_epoch <= self.start_epoch:
            raise ValueError(f"end_epoch: expected > start_epoch = {self.start_epoch}, got {self.end_epoch}")


class OGMOptions(EpochWindowOptions):
    alpha: float = Field(0.1, gt=0, description="α in 1 − tanh(α·ratio) (official default 0.1)")
    reference: Reference = Field("mean", description="score the ratio divides by, over the *other* "
                                 "modalities: mean | max | min (identical for M = 2)")
    coefficient: Formula = Field("paper", description="paper: 1 − tanh(α·ratio) (Eq. 10, official code); "
                                 "shifted: 1 − tanh(α·(ratio − 1))")
    params: ParamSelection = Field("all", description=PARAMS_DESCRIPTION)
    noise: bool = Field(False, description="add N(0, std(grad)) to modulated gradients (the -GE part)")


class OGMGEOptions(OGMOptions):
    noise: bool = Field(True, description="add N(0, std(grad)) to modulated gradients (the -GE part)")


def discrepancy_ratios(scores: dict[str, Tensor], reference: Reference = "mean") -> dict[str, Tensor]:
    """``ratio^m = score^m / ref_{k≠m}(score^k)`` with ``ref`` the mean, max or min of the others."""
    if len(scores) < 2:
        raise ValueError(f"discrepancy ratios need at least 2 modalities, got {list(scores)}")
    reduce = {"mean": torch.mean, "max": torch.amax, "min": torch.amin}[reference]
    ratios = {}
    for m, s in scores.items():
        others = torch.stack([scores[k] for k in scores if k != m])
        ratios[m] = s / reduce(others).clamp_min(1e-12)
    return ratios


def modulation_coefficient(ratio: Tensor, alpha: float, formula: Formula = "paper") -> Tensor:
    """``1 − tanh(α·ratio)`` (paper) or ``1 − tanh(α·(ratio − 1))`` (shifted) where ratio > 1, else 1."""
    x = ratio if formula == "paper" else ratio - 1
    return torch.where(ratio > 1, 1 - torch.tanh(alpha * x), torch.ones_like(ratio))


def student_scores(state: StepState) -> dict[str, Tensor]:
    """OGM's scores: batch sums of the student's own true-label confidence per modality."""
    if state.output is None:
        raise RuntimeError("OGM needs the student's per-modality outputs; the step has none")
    target = state.batch.target
    return {m: true_label_confidence(z.detach(), target, state.task).sum()
            for m, z in state.output.modality_logits.items()}


class DiscrepancyModulation(Modulator):
    """Scale each encoder's gradient by ``1 − tanh(α·ratio)`` where its score dominates the others'."""

    def __init__(self, params: dict[str, list[nn.Parameter]], scores: ScoreSource, *, alpha: float,
                 reference: Reference, formula: Formula, noise: bool, start_epoch: int,
                 end_epoch: int | None, name: str = "ogm") -> None:
        self.params, self.scores = params, scores
        self.alpha, self.reference, self.formula, self.noise = alpha, reference, formula, noise
        self.start_epoch, self.end_epoch, self.name = start_epoch, end_epoch, name

    def in_window(self, epoch: int) -> bool:
        return epoch >= self.start_epoch and (self.end_epoch is None or epoch < self.end_epoch)

    def coefficients(self, state: StepState) -> dict[str, Tensor]:
        ratios = discrepancy_ratios(self.scores(state), self.reference)
        return {m: modulation_coefficient(r.float(), self.alpha, self.formula) for m, r in ratios.items()}

    def on_before_optimizer_step(self, state: StepState, optimizer: torch.optim.Optimizer) -> None:
        if not self.in_window(state.epoch):
            return
        coefficients = self.coefficients(state)
        for m, k in coefficients.items():
            scale_gradients_(self.params[m], k, self.noise)


def build_ogm(options: OGMOptions, context: ModulatorContext, name: str) -> DiscrepancyModulation:
    params = encoder_parameter_sets(context.model, options.params, f"{name}.params")
    return DiscrepancyModulation(params, student_scores, alpha=options.alpha, reference=options.reference,
                                 formula=options.coefficient, noise=options.noise,
                                 start_epoch=options.start_epoch, end_epoch=options.end_epoch, name=name)


@MODULATORS.register("ogm", options=OGMOptions)
def ogm(options: OGMOptions, context: ModulatorContext) -> DiscrepancyModulation:
    """OGM: scale the dominant encoder's gradient by 1 − tanh(α·ratio), scores from the student."""
    return build_ogm(options, context, "ogm")


@MODULATORS.register("ogm-ge", options=OGMGEOptions)
def ogm_ge(options: OGMGEOptions, context: ModulatorContext) -> DiscrepancyModulation:
    """OGM-GE: OGM plus Gaussian noise of each gradient's own std (generalisation enhancement)."""
    return build_ogm(options, context, "ogm-ge")

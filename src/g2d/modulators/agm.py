"""Adaptive Gradient Modulation, AGM (Li et al., ICCV 2023).

1. Mono-modal responses by Shapley attribution. With ``v(S)`` the fusion head's logits when only the
   modalities in S are present, modality m's response is
   ``φ^m = Σ_{S ⊆ others} |S|!(M−|S|−1)!/M! · (v(S ∪ {m}) − v(S))``.
   A modality is *muted by zeroing its features* before the fusion head (the official code zeroes
   the raw input); so the encoders run once and only the head is evaluated 2^M times (no
   gradients, head in eval mode). The cost grows as 2^M: fine for the handful of modalities of the
   paper's data sets.
2. Mono-modal scores ``s^m``: the batch-mean task loss of ``φ^m`` (cross-entropy with the true-class
   probability clamped at 1e-8, as in the official code; regression: MSE of σ(φ^m) — our choice).
3. Ratios ``r^m = exp(mean_{k≠m} s^k − s^m)`` (for M = 2 the official ``exp(s^other − s^m)``; in
   general the official ``exp(M/(M−1)·(s̄ − s^m))``): larger when m currently does relatively better.
   Their targets ``η^m`` are the same function of the running means ``ŝ^m`` of the scores over all
   steps so far (updated every step, also outside the modulation window).
4. Coefficients ``k^m = exp(α · min(η^m − r^m, cap))``: a modality doing better than its running
   balance is slowed down (k < 1), one doing worse is sped up (k > 1). ``cap`` bounds the exponent
   (the BalanceBenchmark code caps at 7); the official code instead clips the gradient norm when
   the head's gradients exceed 1 — the trainer has no clipping, so we bound the coefficient.
5. The gradients of encoder m's parameters (``params``) are multiplied by ``k^m`` before the
   optimiser step. The official code scales the gradient flowing into φ^m with a backward hook and
   trains on ``Σ_m φ^m``; for the linear fusion heads that is the task loss on the fused logits with
   each encoder's gradient scaled by its own k^m, which is what this modulator does.
"""
from __future__ import annotations

import itertools
import math

import torch
from pydantic import Field
from torch import Tensor, nn

from g2d.fusion.base import Fusion
from g2d.modulators.base import MODULATORS, Modulator, ModulatorContext, StepState
from g2d.modulators.gradients import PARAMS_DESCRIPTION, ParamSelection, encoder_parameter_sets, scale_gradients_
from g2d.modulators.ogm import EpochWindowOptions
from g2d.objectives import prediction


class AGMOptions(EpochWindowOptions):
    alpha: float = Field(0.1, gt=0, description="α in k = exp(α·(η − r))")
    cap: float = Field(7.0, gt=0, description="upper bound of η − r in the exponent (keeps k finite)")
    params: ParamSelection = Field("all", description=PARAMS_DESCRIPTION)


@torch.no_grad()
def shapley_responses(fusion: Fusion, features: dict[str, Tensor]) -> dict[str, Tensor]:
    """``φ^m`` for every modality: Shapley attribution of the fused logits, muting = zero features."""
    modalities = list(features)
    n = len(modalities)
    was_training = fusion.training
    fusion.eval()
    value: dict[frozenset[str], Tensor] = {}
    for r in range(n + 1):
        for subset in itertools.combinations(modalities, r):
            present = frozenset(subset)
            value[present] = fusion({m: f if m in present else torch.zeros_like(f)
                                     for m, f in features.items()}).logits.float()
    fusion.train(was_training)
    responses = {}
    for m in modalities:
        others = [k for k in modalities if k != m]
        total = torch.zeros_like(value[frozenset()])
        for r in range(n):
            weight = math.factorial(r) * math.factorial(n - r - 1) / math.factorial(n)
            for subset in itertools.combinations(others, r):
                s = frozenset(subset)
                total += weight * (value[s | {m}] - value[s])
        responses[m] = total
    return responses


def mono_modal_scores(responses: dict[str, Tensor], target: Tensor, task: str) -> dict[str, Tensor]:
    """Batch-mean loss of each response: −log p(y) clamped at 1e-8 (classification), MSE (regression)."""
    if task == "regression":
        return {m: ((prediction(z, task) - target.float()) ** 2).mean() for m, z in responses.items()}
    return {m: -torch.log(torch.softmax(z, -1).gather(1, target.long()[:, None]).clamp_min(1e-8)).mean()
            for m, z in responses.items()}


def relative_ratios(scores: dict[str, Tensor]) -> dict[str, Tensor]:
    """``exp(mean_{k≠m} s^k − s^m)`` per modality."""
    return {m: torch.exp(torch.stack([scores[k] for k in scores if k != m]).mean() - s)
            for m, s in scores.items()}


class AdaptiveGradientModulation(Modulator):
    def __init__(self, fusion: Fusion, params: dict[str, list[nn.Parameter]], alpha: float, cap: float,
                 start_epoch: int = 0, end_epoch: int | None = None) -> None:
        self.fusion, self.params, self.alpha, self.cap = fusion, params, alpha, cap
        self.start_epoch, self.end_epoch = start_epoch, end_epoch
        self.running: dict[str, Tensor] = {}  # ŝ^m, running means of the scores over all steps
        self.count = 0

    def in_window(self, epoch: int) -> bool:
        return epoch >= self.start_epoch and (self.end_epoch is None or epoch < self.end_epoch)

    def coefficients(self, state: StepState) -> dict[str, Tensor]:
        """k^m for this step; also advances the running means (so call it once per step)."""
        if state.output is None:
            raise RuntimeError("AGM needs the student's features; the step has none")
        features = {m: f.detach().float() for m, f in state.output.features.items()}
        scores = mono_modal_scores(shapley_responses(self.fusion, features), state.batch.target, state.task)
        if not self.running:
            self.running = {m: torch.zeros_like(s) for m, s in scores.items()}
        ratios, targets = relative_ratios(scores), relative_ratios(self.running)
        coefficients = {m: torch.exp(self.alpha * (targets[m] - ratios[m]).clamp(max=self.cap)) for m in scores}
        self.count += 1
        for m, s in scores.items():
            self.running[m] = self.running[m] + (s - self.running[m]) / self.count
        return coefficients

    def on_before_optimizer_step(self, state: StepState, optimizer: torch.optim.Optimizer) -> None:
        coefficients = self.coefficients(state)
        if self.in_window(state.epoch):
            for m, k in coefficients.items():
                scale_gradients_(self.params[m], k)

    def state_dict(self) -> dict:
        return {"running": {m: v.detach().cpu() for m, v in self.running.items()}, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        device = next(iter(self.params.values()))[0].device
        self.running = {m: v.to(device) for m, v in state.get("running", {}).items()}
        self.count = int(state.get("count", 0))


@MODULATORS.register("agm", options=AGMOptions)
def agm(options: AGMOptions, context: ModulatorContext) -> AdaptiveGradientModulation:
    """AGM: Shapley mono-modal scores; each encoder's gradient scaled by exp(α·(η − r))."""
    params = encoder_parameter_sets(context.model, options.params, "agm.params")
    return AdaptiveGradientModulation(context.model.fusion, params, options.alpha, options.cap,
                                      options.start_epoch, options.end_epoch)

"""Greedy — balanced multimodal learning (Wu, Jastrzębski, Cho & Geras, "Characterizing and
overcoming the greedy nature of learning in multi-modal deep neural networks", ICML 2022):
measure how fast the model learns from each modality (the *conditional learning speed*, the paper's
cheap proxy of the conditional utilisation rate) and, whenever the speeds drift apart by more than
a threshold ``α``, take a few *re-balancing steps* in which only the slower modality's branch learns
and the prediction cannot lean on the others.

The paper's model is a mid-fusion network: MMTM layers mix the two branches, and each branch has a
bypass around them. Its learning speed of modality m is ``BDR_m = log10(Σ_t ‖∇θ_bypass,m‖²/‖θ_bypass,m‖²
/ Σ_t ‖∇θ_main,m‖²/‖θ_main,m‖²)`` (sums over the regular steps so far; "main" = branch m's own
layers, "bypass" = the fusion layers it reads), and ``d_speed = BDR_0 − BDR_1``. If
``|d_speed| > α`` the next ``window`` steps are re-balancing steps for the branch with the larger
BDR (it learns through the fusion layers more than through its own layers): the cross-modal
information flowing into it is replaced by its running average, so that branch must learn from its
own modality.

Our adaptation to g2d's late-fusion models (encoders → one fusion head), said here because the paper
has no such model:

- **Speed.** The fusion head is the only "bypass" and it is shared by every modality (the paper's
  code counts a shared fusion parameter for both branches), so the head's term cancels in
  ``BDR_0 − BDR_1`` and ``d_speed = log10(S_1 / S_0)`` with ``S_m = Σ_t ‖∇θ_enc,m‖² / ‖θ_enc,m‖²``, each
  encoder's cumulative relative gradient energy over the regular steps (gradients unscaled, as the
  optimiser sees them). For M modalities the imbalance is ``log10(max_m S_m / min_m S_m)``; it equals
  ``|d_speed|`` for M = 2.
- **Re-balancing step.** When the imbalance exceeds ``α`` (from ``start_epoch`` on), the modality with
  the smallest ``S_m`` (the under-utilised one; for M = 2 the one the paper cares for) is the only
  one whose encoder learns for the next ``window`` steps: the other encoders run without autograd and
  their features are replaced by their running mean (the mean of every training batch's mean feature
  so far, as the paper's running average of the MMTM excitations), so the fused prediction — and its
  task loss — depends on the sample only through the slower modality. The fusion head learns in every
  step. After the window, regular steps (joint training's task loss, every encoder learning) resume
  and the speeds are measured again.

Paper defaults (its public configuration): ``α = 0.01`` (``epsilon``), ``window = 5`` steps,
``start_epoch = 2``. Decided where the paper is silent: the speeds accumulate from the first step
(before ``start_epoch`` too, as in the paper's code) and only over regular steps; evaluation uses the
model as it is (every modality's real features). Any number of modalities.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from pydantic import Field
from torch import Tensor

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.model import ModelOutput, MultimodalModel
from g2d.modulators.base import StepState
from g2d.objectives import task_loss, task_objective
from g2d.registry import Options

if TYPE_CHECKING:
    from g2d.step import StepRunner


class GreedyOptions(Options):
    alpha: float = Field(0.01, ge=0, description="threshold α on the learning-speed imbalance log10(max S / min S)")
    window: int = Field(5, gt=0, description="re-balancing steps taken once the imbalance exceeds α")
    start_epoch: int = Field(2, ge=0, description="first epoch in which re-balancing steps may start")


def relative_gradient_energy(model: MultimodalModel, gradient_scale: float = 1.0) -> dict[str, Tensor]:
    """``‖∇θ_enc,m‖² / ‖θ_enc,m‖²`` per encoder (0-d tensors) from the current gradients, divided by
    ``gradient_scale²`` (the fp16 loss scale, when the gradients are still scaled)."""
    energies = {}
    for m in model.modalities:
        params = [p for p in model.encoders[m].parameters() if p.grad is not None]
        if not params:
            energies[m] = torch.zeros(())
            continue
        grad = torch.stack([p.grad.detach().float().pow(2).sum() for p in params]).sum()
        weight = torch.stack([p.detach().float().pow(2).sum() for p in params]).sum()
        energies[m] = (grad / gradient_scale ** 2 / weight.clamp_min(1e-12)).cpu()
    return energies


def speed_imbalance(speeds: dict[str, float]) -> float:
    """``log10(max S / min S)``; infinite when some modality has not learned at all yet."""
    low, high = min(speeds.values()), max(speeds.values())
    if high <= 0:
        return 0.0
    return math.inf if low <= 0 else math.log10(high / low)


def slowest_modality(speeds: dict[str, float]) -> str:
    return min(speeds, key=lambda m: speeds[m])


class GreedyMethod(Method):
    def __init__(self, task: str, options: GreedyOptions, context: MethodContext) -> None:
        super().__init__(task_objective(task))
        self.task, self.options = task, options
        self.speeds = {m: 0.0 for m in context.modalities}  # S_m over the regular steps
        self.feature_mean: dict[str, Tensor] = {}  # running mean of the batch-mean features
        self.seen_batches = 0
        self.caring: str | None = None  # modality of the re-balancing steps under way
        self.remaining = 0  # re-balancing steps left
        self.imbalance = 0.0
        self.rebalancing_steps = {m: 0 for m in context.modalities}  # this epoch

    def update_feature_mean(self, features: dict[str, Tensor]) -> None:
        n = self.seen_batches
        for m, f in features.items():
            batch_mean = f.detach().float().mean(0)
            old = self.feature_mean.get(m, torch.zeros_like(batch_mean)).to(batch_mean.device)
            self.feature_mean[m] = (old * n + batch_mean) / (n + 1)
        self.seen_batches += 1

    def rebalancing_objective(self, runner: "StepRunner", state: StepState) -> tuple[dict[str, Tensor], Tensor]:
        """The task loss of the fused head when every modality but ``caring`` is its running mean."""
        model, batch, caring = runner.model, state.batch, self.caring
        chosen = self.select_active(state)
        state.active = frozenset({caring}) if chosen is None else frozenset({caring}) & chosen
        with runner.autocast():
            features = model.encode(batch.inputs, state.active, batch.masks)
            self.update_feature_mean(features)
            blocked = {m: f if m == caring else self.feature_mean[m].to(f.dtype).expand_as(f)
                       for m, f in features.items()}
            fused = model.fusion(blocked)
            state.output = ModelOutput(fused.logits, fused.modality_logits, blocked)
            loss = task_loss(fused.logits, batch.target, self.task)
        return {"task": loss}, loss

    def training_step(self, runner: "StepRunner", state: StepState) -> dict[str, Tensor]:
        if self.caring is not None:
            terms, loss = self.rebalancing_objective(runner, state)
            runner.backward(loss, state, self.modulators)
            runner.optimizer_step(state, self.modulators)
            self.rebalancing_steps[self.caring] += 1
            self.remaining -= 1
            if self.remaining == 0:
                self.caring = None
            return terms
        terms, loss = self.forward_objective(runner, state)
        self.update_feature_mean(state.output.features)
        runner.backward(loss, state, self.modulators)
        scale = float(runner.scaler.get_scale()) if runner.scaler else 1.0
        for m, energy in relative_gradient_energy(runner.model, scale).items():
            self.speeds[m] += float(energy)
        runner.optimizer_step(state, self.modulators)
        self.imbalance = speed_imbalance(self.speeds)
        if state.epoch >= self.options.start_epoch and self.imbalance > self.options.alpha:
            self.caring, self.remaining = slowest_modality(self.speeds), self.options.window
        return terms

    def epoch_summary(self) -> dict[str, Any]:
        summary = super().epoch_summary()
        summary["greedy"] = {"rebalancing_steps": dict(self.rebalancing_steps),
                             "imbalance": round(self.imbalance, 4) if math.isfinite(self.imbalance) else None}
        self.rebalancing_steps = {m: 0 for m in self.rebalancing_steps}
        return summary

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "speeds": dict(self.speeds), "caring": self.caring,
                "remaining": self.remaining, "seen_batches": self.seen_batches,
                "feature_mean": {m: t.cpu() for m, t in self.feature_mean.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.speeds = {m: float(v) for m, v in state.get("speeds", self.speeds).items()}
        self.caring, self.remaining = state.get("caring"), int(state.get("remaining", 0))
        self.seen_batches = int(state.get("seen_batches", 0))
        self.feature_mean = {m: t.clone() for m, t in state.get("feature_mean", {}).items()}


@METHODS.register("greedy", options=GreedyOptions)
def greedy(options: GreedyOptions, context: MethodContext) -> Method:
    """Greedy: re-balancing steps for the modality whose encoder learns slowest (conditional learning speed)."""
    return GreedyMethod(context.task, options, context)

"""ReconBoost (Hua et al., ICML 2024): modality-alternating boosting with a reconcilement regulariser.

The model is an ensemble of one learner per modality — learner m is encoder m plus its path
through the fusion head, ``z_s^m`` — whose prediction is the sum ``F = Σ_m z_s^m`` (the eval-time
output; for ``sum`` and ``concat`` fusion it is the fused head without its bias). Training runs in
rounds; round r picks modality ``m = order[r mod M]`` and

1. **boosting** (``boost_epochs`` epochs): only learner m learns (the other encoders run without
   autograd), on ``L = CE(z_s^m, y) − λ · R(z_s^m, F_{−m})`` where ``F_{−m} = Σ_{k≠m} z_s^k`` is the
   ensemble of the other modalities' latest learners and the reconcilement regulariser is the
   KL-based ``R = Σ_c y_c q_c (log q_c − log p_c)`` with ``q = softmax(F_{−m})`` (no gradient) and
   ``p = softmax(z_s^m)``. ``R`` is zero when the new learner predicts what the ensemble already
   predicts; maximising it (the minus sign) makes the learner deviate from the others where they
   are already right — the loss equals ``(1 − λ q_y) · CE`` up to a constant, the gradient-boosting
   re-weighting the paper derives: samples the others get wrong weigh most. Learners that have not
   been trained yet (never boosted, no rectification yet) are left out of ``F_{−m}``.
2. **global rectification** (``rectify_epochs`` epochs, 0 = off): all learners and the head train
   jointly on ``CE(F, y)``.

Only the newest learner per modality is kept (the model holds one encoder per modality), as in
the paper. Not implemented: the paper's memory-consolidation term (the official code computes it
on detached tensors, so it has no effect there either) and a learned boosting rate (fixed at 1).
λ defaults to 0.2, the official ratio weight2 / weight1 = 1 / 5. Any number of modalities;
classification only (the regulariser compares class distributions).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from pydantic import Field
from torch import Tensor

from g2d.methods._unimodal import check_shapes_once, encode_one, modality_path, replace_logits
from g2d.methods.base import METHODS, Method, MethodContext
from g2d.model import ModelOutput
from g2d.modulators.base import StepState
from g2d.objectives import task_loss, task_objective
from g2d.registry import ExperimentContext, Options

if TYPE_CHECKING:
    from g2d.step import StepRunner


class ReconBoostOptions(Options):
    boost_epochs: int = Field(1, ge=1, description="epochs per round in which the chosen modality's learner trains")
    rectify_epochs: int = Field(1, ge=0, description="epochs of global rectification after each round's "
                                "boosting (all learners on the ensemble loss); 0 = none")
    lam: float = Field(0.2, ge=0, description="λ, weight of the reconcilement regulariser (official 1/5)")
    order: list[str] | None = Field(None, description="modality order of the rounds; null = the data set's order")

    def check_against(self, context: ExperimentContext) -> None:
        if context.task != "classification":
            raise ValueError(f"ReconBoost's reconcilement regulariser compares class distributions and needs "
                             f"a classification task, got task {context.task!r}")
        if self.order is not None and sorted(self.order) != sorted(context.modalities):
            raise ValueError(f"order: expected each of {list(context.modalities)} exactly once, got {self.order}")


def reconcilement(logits: Tensor, ensemble: Tensor, target: Tensor) -> Tensor:
    """``R = mean_i q_y (log q_y − log p_y)``, q = softmax(ensemble) (detached), p = softmax(logits)."""
    target = target.long()[:, None]
    logq = torch.log_softmax(ensemble.detach().float(), -1).gather(1, target).squeeze(1)
    logp = torch.log_softmax(logits.float(), -1).gather(1, target).squeeze(1)
    return (logq.exp() * (logq - logp)).mean()


class ReconBoostMethod(Method):
    def __init__(self, task: str, modalities: tuple[str, ...], options: ReconBoostOptions, model) -> None:
        super().__init__(task_objective(task))
        self.task, self.options = task, options
        self.order = tuple(options.order or modalities)
        self.seen: set[str] = set()  # learners trained at least once
        self._checked = [False]
        self.bind_eval_output(model)

    def schedule(self, epoch: int) -> tuple[str, str]:
        """(phase, modality): phase 'boost' or 'rectify' in the round that contains ``epoch``."""
        period = self.options.boost_epochs + self.options.rectify_epochs
        round_, position = divmod(epoch, period)
        phase = "boost" if position < self.options.boost_epochs else "rectify"
        return phase, self.order[round_ % len(self.order)]

    def ensemble_of_others(self, runner: "StepRunner", state: StepState, modality: str, like: Tensor) -> Tensor:
        """``F_{−m}`` without autograd: the sum of the other trained learners' logits (zeros if none)."""
        total = torch.zeros_like(like)
        with torch.no_grad():
            for k in self.order:
                if k != modality and k in self.seen:
                    total = total + modality_path(runner.model, k, encode_one(runner.model, state.batch, k))
        return total

    def boost_step(self, runner: "StepRunner", state: StepState, modality: str) -> dict[str, Tensor]:
        model, batch = runner.model, state.batch
        check_shapes_once(model, batch, self._checked)
        with runner.autocast():
            feature = encode_one(model, batch, modality)
            logits = modality_path(model, modality, feature)
            others = self.ensemble_of_others(runner, state, modality, logits.detach())
            terms = {"task": task_loss(logits, batch.target, self.task),
                     "recon": -self.options.lam * reconcilement(logits, others, batch.target)}
            loss = terms["task"] + terms["recon"]
        state.active = frozenset({modality})
        state.output = ModelOutput((logits + others).detach(), {modality: logits.detach()},
                                   {modality: feature.detach()})
        runner.backward(loss, state, self.modulators)
        runner.optimizer_step(state, self.modulators)
        self.seen.add(modality)
        return terms

    def rectify_step(self, runner: "StepRunner", state: StepState) -> dict[str, Tensor]:
        with runner.autocast():
            output = runner.model(state.batch.inputs, None, state.batch.masks)
            state.output = replace_logits(output, self.ensemble(output.modality_logits))
            terms = {"ensemble": task_loss(state.output.logits, state.batch.target, self.task)}
        runner.backward(terms["ensemble"], state, self.modulators)
        runner.optimizer_step(state, self.modulators)
        self.seen.update(self.order)
        return terms

    def training_step(self, runner: "StepRunner", state: StepState) -> dict[str, Tensor]:
        phase, modality = self.schedule(state.epoch)
        if phase == "boost":
            return self.boost_step(runner, state, modality)
        return self.rectify_step(runner, state)

    @staticmethod
    def ensemble(modality_logits: dict[str, Tensor]) -> Tensor:
        return torch.stack(list(modality_logits.values())).sum(0)

    def eval_output(self, output: ModelOutput) -> ModelOutput:
        return replace_logits(output, self.ensemble(output.modality_logits))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "seen": sorted(self.seen)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.seen = set(state.get("seen", []))


@METHODS.register("reconboost", options=ReconBoostOptions)
def reconboost(options: ReconBoostOptions, context: MethodContext) -> Method:
    """ReconBoost (Hua et al. 2024): one modality's learner per round, boosted against the others'
    ensemble with a KL reconcilement regulariser, then global rectification."""
    return ReconBoostMethod(context.task, context.modalities, options, context.model)

"""Gradient-Blending (Wang, Tran & Feiszli, "What Makes Training Multi-modal Classification
Networks Hard?", CVPR 2020): a weighted sum of the fused loss and every modality's own loss, with
weights from each head's overfitting-to-generalisation ratio.

``L = w_fused · L_task(z_s) + Σ_m w_m · L_task(z_s^m)``, one weight per head k (the fused head and
each ``z_s^m``). Every ``super_epoch`` epochs the weights are re-estimated (the paper's online
G-Blend) from how each head's losses moved since the last estimate: generalisation
``G_k = L^val_k(before) − L^val_k(now)`` and overfitting ``O_k = (L^val_k − L^train_k)(now) −
(L^val_k − L^train_k)(before)``, then ``w_k = (G_k / O_k²) / Σ_j (G_j / O_j²)`` (the paper's
Eq. 5–6, weights summing to 1). Before the first estimate the weights are equal, ``1 / (M + 1)``.
Validation losses are the trainer's (``loss`` and ``modality_loss``: the task loss of each head on
the val split); train losses are each head's mean task loss over the epoch's training steps.

Decided where the paper is silent: ``super_epoch: 5`` (the paper re-estimates every few epochs;
short budgets need a short interval); ``O_k`` is floored at 1e-4 in magnitude (a head that did not
overfit at all gets a large but finite weight); a head whose val loss rose (``G_k ≤ 0``) gets weight
0; when no head generalised the previous weights stay. ``z_s^m`` is the modality's path through the
configured fusion head (its own head under ``sum``/``late``). Any number of modalities.
"""
from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import Tensor

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.modulators.base import StepState
from g2d.objectives import Objective, task_loss
from g2d.registry import Options

FUSED = "fused"


class GBlendOptions(Options):
    super_epoch: int = Field(5, gt=0, description="epochs between re-estimates of the blending weights")


def blending_weights(before: dict[str, tuple[float, float]], now: dict[str, tuple[float, float]],
                     floor: float = 1e-4) -> dict[str, float] | None:
    """``w_k ∝ G_k / O_k²`` from (train, val) losses per head at two points; None when no head generalised."""
    raw = {}
    for k, (train_now, val_now) in now.items():
        train_before, val_before = before[k]
        gain = val_before - val_now
        overfit = (val_now - train_now) - (val_before - train_before)
        overfit = max(abs(overfit), floor)
        raw[k] = gain / overfit ** 2 if gain > 0 else 0.0
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()} if total > 0 else None


class GradientBlending(Method):
    def __init__(self, task: str, modalities: tuple[str, ...], options: GBlendOptions) -> None:
        self.heads = (FUSED, *modalities)
        self.weights = {k: 1.0 / len(self.heads) for k in self.heads}
        self.task, self.options = task, options
        super().__init__(Objective(task, {k: (1.0, self._head_loss(k)) for k in self.heads}))
        self._train_sums: dict[str, Tensor] = {}
        self._train_count = 0
        self._mark: dict[str, tuple[float, float]] | None = None  # per head (train, val) at the last estimate
        self.history: list[dict[str, float]] = []  # every estimate, for the record

    def _head_loss(self, head: str):
        def term(output, batch, teacher) -> Tensor:
            logits = output.logits if head == FUSED else output.modality_logits[head]
            loss = task_loss(logits, batch.target, self.task)
            self._train_sums[head] = self._train_sums.get(head, 0) + loss.detach().float()
            return self.weights[head] * loss
        return term

    def training_step(self, runner, state: StepState) -> dict[str, Tensor]:
        self._train_count += 1
        return super().training_step(runner, state)

    def on_epoch_end(self, epoch: int, val_metrics: dict[str, Any]) -> None:
        super().on_epoch_end(epoch, val_metrics)
        if "modality_loss" not in val_metrics or "loss" not in val_metrics:
            raise KeyError(f"Gradient-Blending needs each head's val loss (loss, modality_loss); "
                           f"got {sorted(val_metrics)}")
        steps = max(self._train_count, 1)
        train = {k: float(v) / steps for k, v in self._train_sums.items()}  # one host read per epoch
        self._train_sums, self._train_count = {}, 0
        val = {FUSED: float(val_metrics["loss"]), **{m: float(v) for m, v in val_metrics["modality_loss"].items()}}
        now = {k: (train.get(k, float("nan")), val[k]) for k in self.heads}
        if self._mark is None:
            self._mark = now
            return
        if (epoch + 1) % self.options.super_epoch:
            return
        weights = blending_weights(self._mark, now)
        if weights is not None:
            self.weights = weights
        self.history.append(dict(self.weights))
        self._mark = now

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "weights": dict(self.weights), "mark": self._mark,
                "history": [dict(h) for h in self.history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.weights = {k: float(v) for k, v in state.get("weights", self.weights).items()}
        mark = state.get("mark")
        self._mark = {k: (float(t), float(v)) for k, (t, v) in mark.items()} if mark else None
        self.history = [{k: float(v) for k, v in h.items()} for h in state.get("history", [])]


@METHODS.register("gblend", options=GBlendOptions)
def gblend(options: GBlendOptions, context: MethodContext) -> Method:
    """Gradient-Blending: fused + per-modality losses, weighted by each head's generalisation/overfitting²."""
    return GradientBlending(context.task, context.modalities, options)

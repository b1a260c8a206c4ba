"""CML, calibrated multimodal learning (Ma, Zhang, Zhang, Wu, Fu, Zhou & Hu, "Calibrating
Multimodal Learning", ICML 2023): a prediction from fewer modalities must not be more confident
than the prediction from more of them.

The paper's regulariser penalises ``Conf(x^{S'}) > Conf(x^S)`` for ``S' ⊂ S``, with ``Conf`` the
largest softmax probability, added to the task loss: ``L = L_task(z_s) + λ · L_CML``. Here
``L_CML = mean_m mean_i ReLU(Conf(z^{S∖m})_i − Conf(z^S)_i)``: every leave-one-modality-out
prediction against the full one, where ``z^{S∖m}`` is the fused head with modality m's features set
to zero (how every g2d fusion defines a prediction without a modality). Gradients flow through both
sides. Classification only (refused at config load otherwise).

Decided where the paper is silent or where we could not read it: only the top level of the subset
lattice (the M leave-one-out subsets, not all 2^M − 2), which for M = 2 is every subset, and keeps
the cost at M extra head evaluations; ``λ = 1`` (the penalty is a difference of probabilities, of
the order of the cross-entropy); no extra loss on the subset predictions themselves. Any number of
modalities.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.model import ModelOutput
from g2d.modulators.base import StepState
from g2d.objectives import task_loss, task_objective
from g2d.registry import ExperimentContext, Options

if TYPE_CHECKING:
    from g2d.fusion.base import Fusion
    from g2d.step import StepRunner


class CMLOptions(Options):
    lam: float = Field(1.0, ge=0, description="λ, weight of the calibration penalty L_CML")

    def check_against(self, context: ExperimentContext) -> None:
        if context.task != "classification":
            raise ValueError(f"cml compares softmax confidences (classification); the task is {context.task!r}")
        if len(context.modalities) < 2:
            raise ValueError(f"cml needs at least 2 modalities, the data set has {list(context.modalities)}")


def confidence(logits: Tensor) -> Tensor:
    """The largest softmax probability per sample: (B, C) -> (B,)."""
    return F.softmax(logits.float(), dim=-1).amax(-1)


def calibration_penalty(fusion: "Fusion", features: dict[str, Tensor], full_logits: Tensor) -> Tensor:
    """``mean_m mean_i ReLU(Conf(z^{S∖m})_i − Conf(z^S)_i)``."""
    full = confidence(full_logits)
    terms = []
    for m in features:
        without = {k: torch.zeros_like(f) if k == m else f for k, f in features.items()}
        terms.append(F.relu(confidence(fusion(without).logits) - full).mean())
    return torch.stack(terms).mean()


class CMLMethod(Method):
    def __init__(self, task: str, options: CMLOptions) -> None:
        super().__init__(task_objective(task))
        self.task, self.options = task, options

    def forward_objective(self, runner: "StepRunner", state: StepState) -> tuple[dict[str, Tensor], Tensor]:
        model, batch = runner.model, state.batch
        state.active = self.select_active(state)
        with runner.autocast():
            features = model.encode(batch.inputs, state.active, batch.masks)
            fused = model.fusion(features)
            state.output = ModelOutput(fused.logits, fused.modality_logits, features)
            terms = {"task": task_loss(fused.logits, batch.target, self.task)}
            if self.options.lam:
                terms["cml"] = self.options.lam * calibration_penalty(model.fusion, features, fused.logits)
            loss = torch.stack(list(terms.values())).sum()
        return terms, loss


@METHODS.register("cml", options=CMLOptions)
def cml(options: CMLOptions, context: MethodContext) -> Method:
    """CML: task loss + λ · penalty on predictions without a modality that are more confident than with it."""
    return CMLMethod(context.task, options)

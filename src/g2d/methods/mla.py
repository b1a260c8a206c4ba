"""MLA, multimodal learning with alternating unimodal adaptation (Zhang et al., CVPR 2024).

Training turns joint learning into alternating unimodal learning. For every batch the modalities
take turns in a fixed order; modality m's turn is one optimiser step on its own task loss
``L_task(z_s^m, y)`` through the head, so each step updates exactly one encoder (the others do not
even run) and the head. Cross-modal interaction lives in the head, which every modality's turn
trains; the ``shared`` fusion (one classifier ``W`` applied to every modality) is the paper's
setting. Any number of modalities.

Gradient modification (against the head forgetting the other modalities): the shared classifier's
weight gradient is projected, ``∇W ← ∇W · P``, with an orthogonal-weight-modification projector
``P`` (width × width) that starts at the identity and after every turn absorbs the mean input
``r`` of the classifier (the adapted features of that turn's modality):
``P ← P − (P r)(P r)ᵀ / (α + rᵀ P r)``. The update then moves the classifier in directions that
change its response to earlier turns' inputs least. ``P`` is rescaled to the identity's Frobenius
norm after each update (the official code normalises it to norm 1, which also shrinks the head's
learning rate by √width; we keep the rate). The bias is not projected. Only the ``shared`` fusion
has a classifier shared by all modalities; with other fusions each modality's path has its own
head weights, so there is nothing to protect and MLA runs without the modification (it warns).

Test time, uncertainty-based dynamic fusion: per sample, ``H^m`` = entropy of ``softmax(z_s^m)``
and ``λ^m = exp(max_k H^k − H^m) / Σ_j exp(max_k H^k − H^j)`` (= softmax of −H over modalities);
the prediction is ``Σ_m λ^m z_s^m``. (The official code takes the softmax over the batch axis; we
follow the paper's per-sample definition.) Needs class distributions: classification only.
"""
from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import Field
from torch import Tensor

from g2d.methods._unimodal import (GradientSurgery, check_shapes_once, encode_one, entropy, modality_path,
                                   replace_logits, weighted_sum)
from g2d.methods.base import METHODS, Method, MethodContext
from g2d.model import ModelOutput, MultimodalModel
from g2d.modulators.base import StepState
from g2d.objectives import task_loss, task_objective
from g2d.registry import ExperimentContext, Options

if TYPE_CHECKING:
    from g2d.step import StepRunner


class MLAOptions(Options):
    gradient_modification: bool = Field(True, description="project the shared classifier's gradient with "
                                        "the OWM projector (only the 'shared' fusion has such a classifier)")
    alpha: float = Field(0.1, gt=0, description="α in the projector update P ← P − P r rᵀ P / (α + rᵀ P r)")
    test_fusion: Literal["entropy", "mean"] = Field("entropy", description="test-time fusion: entropy "
                                                    "(uncertainty-weighted, the paper's) | mean (equal weights)")

    def check_against(self, context: ExperimentContext) -> None:
        if context.task != "classification":
            raise ValueError(f"MLA's test-time fusion weighs modalities by the entropy of their class "
                             f"distributions and needs a classification task, got task {context.task!r}")


class MLAMethod(Method):
    def __init__(self, task: str, options: MLAOptions, model: MultimodalModel) -> None:
        super().__init__(task_objective(task))
        self.task, self.options = task, options
        self.modalities = model.modalities
        self.classifier = model.fusion.shared_classifier
        if options.gradient_modification and self.classifier is None:
            warnings.warn(f"MLA: fusion {type(model.fusion).__name__} has no classifier shared by all "
                          f"modalities; training without the gradient modification (use model.fusion.name: "
                          f"shared for the paper's setting)", stacklevel=2)
        self.projector: Tensor | None = None
        self.last_input: Tensor | None = None  # mean classifier input of the current turn
        self.surgery = GradientSurgery(self.project)
        self._checked = [False]
        self.bind_eval_output(model)

    @property
    def modifies_gradients(self) -> bool:
        return self.options.gradient_modification and self.classifier is not None

    # ---- training ----------------------------------------------------------------------------
    def modality_step(self, runner: "StepRunner", state: StepState, modality: str) -> tuple[Tensor, Tensor]:
        """One optimiser step on modality ``modality`` alone; returns (its loss, its logits)."""
        model = runner.model
        check_shapes_once(model, state.batch, self._checked)
        with runner.autocast():
            feature = encode_one(model, state.batch, modality)
            if self.modifies_gradients:
                head_input = model.fusion.embed(modality, feature)
                self.last_input = head_input.detach().float().mean(0)
                logits = self.classifier(head_input)
            else:
                logits = modality_path(model, modality, feature)
            loss = task_loss(logits, state.batch.target, self.task)
        state.active = frozenset({modality})
        runner.backward(loss, state, self.modulators)
        runner.optimizer_step(state, [self.surgery, *self.modulators])
        return loss.detach(), logits.detach()

    def project(self, state: StepState) -> None:
        """∇W ← ∇W · P with the projector of earlier turns, then absorb this turn's mean input."""
        if not self.modifies_gradients or self.last_input is None:
            return
        weight = self.classifier.weight
        r = self.last_input.to(weight.device)
        if self.projector is None:
            self.projector = torch.eye(r.numel(), device=r.device)
        P = self.projector.to(r.device)
        if weight.grad is not None:
            weight.grad.copy_((weight.grad.float() @ P).to(weight.grad.dtype))
        k = P @ r
        P = P - torch.outer(k, k) / (self.options.alpha + r @ k)
        self.projector = P * (math.sqrt(r.numel()) / P.norm().clamp_min(1e-12))

    def training_step(self, runner: "StepRunner", state: StepState) -> dict[str, Tensor]:
        terms, logits = {}, {}
        for m in self.modalities:
            terms[f"task_{m}"], logits[m] = self.modality_step(runner, state, m)
        state.active = frozenset(self.modalities)
        state.output = ModelOutput(self.fuse(logits), logits, {})
        return terms

    # ---- test time ---------------------------------------------------------------------------
    def fusion_weights(self, modality_logits: dict[str, Tensor]) -> Tensor:
        """λ (M, B): softmax over modalities of minus the per-sample entropy (or equal weights)."""
        if self.options.test_fusion == "mean":
            first = next(iter(modality_logits.values()))
            return first.new_full((len(modality_logits), first.shape[0]), 1 / len(modality_logits)).float()
        h = torch.stack([entropy(z) for z in modality_logits.values()])  # (M, B)
        return torch.softmax(-h, dim=0)

    def fuse(self, modality_logits: dict[str, Tensor]) -> Tensor:
        return weighted_sum(modality_logits, self.fusion_weights(modality_logits))

    def eval_output(self, output: ModelOutput) -> ModelOutput:
        return replace_logits(output, self.fuse(output.modality_logits))

    def state_dict(self) -> dict[str, Any]:
        projector = self.projector.detach().cpu() if self.projector is not None else None
        return {**super().state_dict(), "projector": projector}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.projector = state.get("projector")


@METHODS.register("mla", options=MLAOptions)
def mla(options: MLAOptions, context: MethodContext) -> Method:
    """MLA (Zhang et al. 2024): alternating unimodal steps through a shared head, OWM gradient
    modification, entropy-weighted fusion at test time."""
    return MLAMethod(context.task, options, context.model)

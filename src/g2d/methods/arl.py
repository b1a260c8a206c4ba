"""ARL, asymmetric representation learning (Wei, Luo & Luo, ICCV 2025, "Improving Multimodal Learning
via Imbalanced Learning").

The paper's claim, from a bias–variance analysis of late fusion: the optimal dependence on each
modality is *not* balanced but inversely proportional to the variance of that modality's
prediction. ARL therefore re-weights each modality's contribution to the fused prediction with
coefficients computed from unimodal auxiliary predictions that share the model's parameters (the
modality paths ``z_s^m`` through the fusion head: no extra parameters).

Per step, from the batch's unimodal outputs (no gradient), as in the official code:

* **variance term**: the mean prediction entropy ``H_m = mean_i H(softmax(z_s^m))`` (the code's
  estimate of the prediction variance), normalised ``h_m = H_m / Σ_k H_k`` and floored at
  ``0.6 / M`` (the code's 0.3 for two modalities); inverse-variance weights
  ``w_m = (1/h_m) / Σ_k (1/h_k)``;
* **bias term**: the mean absolute logit mass ``c_m = Σ_c mean_i |z_s^m,ic|``, normalised
  ``ĉ_m = c_m / Σ_k c_k``;
* **coefficients**: ``κ = softmax_m(T · w_m · mean_{k≠m} ĉ_k)`` (for two modalities exactly the
  code's ``softmax([ĉ_v w_a T, ĉ_a w_v T])``), temperature T = 8.

The fused prediction is the fusion head on re-weighted features ``M κ_m f_s^m`` (κ = 1/M, i.e. the
unweighted model, before ``start``), and the loss adds the unimodal losses that reduce each
modality's prediction bias: ``L = L_task(z_s) + γ · Σ_m L_task(z_s^m)`` with γ = 1 before
``start`` and the option's γ after (the official CREMA-D script: γ = 4, start after epoch 5 of 100).
The coefficients computed on a step weigh the next step (the code sets them after the forward);
evaluation uses the last ones.

Decided where the paper/code is unclear: the official encoder applies the coefficient inside its
backbone (not published in the snapshot we read); we scale the encoder's output features, by
``M κ_m`` so that balanced coefficients leave the model unchanged. Any number of modalities (the
floor and the bias term generalised as above); classification only (entropy of class
distributions).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from pydantic import Field
from torch import Tensor

from g2d.methods._unimodal import check_shapes_once, entropy
from g2d.methods.base import METHODS, Method, MethodContext
from g2d.model import ModelOutput
from g2d.modulators.base import StepState
from g2d.objectives import task_loss, task_objective
from g2d.registry import ExperimentContext, Options

if TYPE_CHECKING:
    from g2d.step import StepRunner


class ARLOptions(Options):
    gamma: float = Field(4.0, ge=0, description="γ, weight of the unimodal (bias) losses after 'start' "
                         "(official CREMA-D script: 4; 1 before)")
    temperature: float = Field(8.0, gt=0, description="T in κ = softmax(T · w_m · mean of the others' ĉ)")
    start: float = Field(0.05, ge=0, lt=1, description="fraction of the student epochs before the coefficients "
                         "apply (official: after epoch 5 of 100)")

    def check_against(self, context: ExperimentContext) -> None:
        if context.task != "classification":
            raise ValueError(f"ARL estimates each modality's variance from the entropy of its class "
                             f"distribution and needs a classification task, got task {context.task!r}")


def arl_coefficients(modality_logits: dict[str, Tensor], temperature: float) -> Tensor:
    """κ (M,) in the dict's order from the unimodal logits of a batch (see the module docstring)."""
    m = len(modality_logits)
    logits = [z.detach().float() for z in modality_logits.values()]
    h = torch.stack([entropy(z).mean() for z in logits])
    h = (h / h.sum().clamp_min(1e-12)).clamp_min(0.6 / m)
    w = (1 / h) / (1 / h).sum()
    c = torch.stack([z.abs().mean(0).sum() for z in logits])
    c = c / c.sum().clamp_min(1e-12)
    others = (c.sum() - c) / max(m - 1, 1)
    return torch.softmax(temperature * w * others, dim=0)


class ARLMethod(Method):
    def __init__(self, context: MethodContext, options: ARLOptions) -> None:
        super().__init__(task_objective(context.task))
        self.task, self.options = context.task, options
        self.modalities = context.model.modalities
        self.fusion = context.model.fusion
        self.start_epoch = round(options.start * context.epochs)
        self.kappa: Tensor | None = None  # the coefficients the next step (and evaluation) uses
        self._checked = [False]
        self.bind_eval_output(context.model)

    def weighted(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        """``M κ_m f^m`` (the features unchanged while no coefficients apply)."""
        if self.kappa is None:
            return features
        scale = len(self.modalities) * self.kappa
        return {m: f * scale[j].to(f.device, f.dtype) for j, (m, f) in enumerate(features.items())}

    def training_step(self, runner: "StepRunner", state: StepState) -> dict[str, Tensor]:
        model, batch = runner.model, state.batch
        check_shapes_once(model, batch, self._checked)
        active = state.epoch >= self.start_epoch
        if not active:
            self.kappa = None
        state.active = self.select_active(state)
        gamma = self.options.gamma if active else 1.0
        with runner.autocast():
            features = model.encode(batch.inputs, state.active, batch.masks)
            fused = model.fusion(self.weighted(features))
            terms = {"task": task_loss(fused.logits, batch.target, self.task),
                     "unimodal": gamma * torch.stack([task_loss(z, batch.target, self.task)
                                                      for z in fused.modality_logits.values()]).sum()}
        state.output = ModelOutput(fused.logits, fused.modality_logits, features)
        runner.backward(terms["task"] + terms["unimodal"], state, self.modulators)
        runner.optimizer_step(state, self.modulators)
        if active:
            self.kappa = arl_coefficients(fused.modality_logits, self.options.temperature)
        return terms

    def eval_output(self, output: ModelOutput) -> ModelOutput:
        if self.kappa is None:
            return output
        fused = self.fusion(self.weighted(output.features))
        return ModelOutput(fused.logits, fused.modality_logits, output.features)

    def epoch_summary(self) -> dict[str, Any]:
        summary = super().epoch_summary()
        if self.kappa is not None:
            summary["arl"] = {"kappa": {m: round(float(k), 4) for m, k in zip(self.modalities, self.kappa.tolist())}}
        return summary

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "kappa": self.kappa.cpu() if self.kappa is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        kappa = state.get("kappa")
        self.kappa = kappa.to(next(self.fusion.parameters()).device) if kappa is not None else None


@METHODS.register("arl", options=ARLOptions)
def arl(options: ARLOptions, context: MethodContext) -> Method:
    """ARL (Wei et al. 2025): features re-weighted by coefficients from the inverse of each unimodal
    prediction's variance (entropy) and its bias, plus γ-weighted unimodal losses."""
    return ARLMethod(context, options)


"""DGL, disentangled gradient learning (Wei, Luo & Luo, ICCV 2025, "Boosting Multimodal Learning
via Disentangled Gradient Learning").

The paper's diagnosis: under the fused loss, each encoder's gradient is scaled down by the other
modalities' share of the fused output, so every encoder is under-optimised compared with unimodal
training. DGL disentangles the two optimisations:

* the **encoders** are trained only by the unimodal losses ``α · Σ_m L_task(z_s^m, y)``, where
  ``z_s^m`` is modality m's path through the *shared* fusion head (the fused head with the other
  modalities' features zeroed, the official ``ConcatFusion_DGL``);
* the **fusion head** is trained only by the multimodal loss ``L_task(fusion(sg[f^1..f^M]), y)``
  on detached features — the multimodal gradient never reaches an encoder, and the unimodal
  losses' gradient on the head is discarded (the official code sets the fusion's ``.grad`` to None
  after the unimodal backward, then backpropagates the fused loss).

So ``∇θ_enc,m = α ∇L_task(z_s^m)`` and ``∇θ_fusion = ∇L_task(z_s)`` exactly. α = 4 (the official
CREMA-D script; the paper's α). Evaluation uses the fused head as trained. Any number of
modalities, any fusion; classification and regression (the task loss of the config's task).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from pydantic import Field
from torch import Tensor

from g2d.methods._unimodal import check_shapes_once
from g2d.methods.base import METHODS, Method, MethodContext
from g2d.model import ModelOutput
from g2d.modulators.base import StepState
from g2d.objectives import task_loss, task_objective
from g2d.registry import Options

if TYPE_CHECKING:
    from g2d.step import StepRunner


class DGLOptions(Options):
    alpha: float = Field(4.0, gt=0, description="α, weight of the unimodal losses that alone train the encoders "
                         "(official CREMA-D script: 4)")


class DGLMethod(Method):
    def __init__(self, task: str, options: DGLOptions) -> None:
        super().__init__(task_objective(task))
        self.task, self.alpha = task, options.alpha
        self._checked = [False]

    def training_step(self, runner: "StepRunner", state: StepState) -> dict[str, Tensor]:
        model, batch = runner.model, state.batch
        check_shapes_once(model, batch, self._checked)
        state.active = self.select_active(state)
        with runner.autocast():
            features = model.encode(batch.inputs, state.active, batch.masks)
            unimodal = model.fusion(features).modality_logits  # z_s^m, gradient to encoder m and the head
            fused = model.fusion({m: f.detach() for m, f in features.items()}).logits  # head only
            terms = {f"unimodal_{m}": self.alpha * task_loss(z, batch.target, self.task) for m, z in unimodal.items()}
            terms["task"] = task_loss(fused, batch.target, self.task)
        state.output = ModelOutput(fused, unimodal, features)
        encoders_loss = torch.stack([terms[f"unimodal_{m}"] for m in unimodal]).sum()
        scaler = runner.scaler
        (scaler.scale(encoders_loss) if scaler else encoders_loss).backward()
        for p in model.fusion.parameters():  # the unimodal losses do not train the head
            p.grad = None
        runner.backward(terms["task"], state, self.modulators)
        runner.optimizer_step(state, self.modulators)
        return terms


@METHODS.register("dgl", options=DGLOptions)
def dgl(options: DGLOptions, context: MethodContext) -> Method:
    """DGL (Wei et al. 2025): encoders trained only by unimodal losses through the shared head,
    the head only by the fused loss on detached features."""
    return DGLMethod(context.task, options)

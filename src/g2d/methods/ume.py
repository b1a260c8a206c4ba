"""UME, the uni-modal ensemble (Du et al., 2023): unimodal models trained independently, whose
predictions are combined.

On our trainer a UME is the student itself with no cross-modal interaction during training: its
loss is ``Σ_m L_task(z_s^m, y)``, one task loss per modality on that modality's own path through
the fusion head (encoder m + its head). Each encoder's gradient therefore depends only on its own
modality, exactly as if M unimodal models — the teachers' recipe: encoder + linear head, task loss
— were trained side by side on the same batches; nothing reads the cached teacher outputs. The
prediction is the fusion head's combination of the per-modality outputs: with ``late`` fusion (the
paper's setting) the mean of the unimodal logits, i.e. the ensemble; with ``sum`` their sum and with
``concat`` their sum plus a bias that receives no gradient and stays at its zero initialisation —
for classification all three predict the same class. For regression the prediction is σ(fused
logits), so only ``late`` fusion is the ensemble; UME refuses other fusions there. Model selection
uses the fused (ensemble) validation metric, like every other method. Any number of modalities.
"""
from __future__ import annotations

from g2d.fusion.linear import LateFusion
from g2d.methods.base import METHODS, Method, MethodContext
from g2d.objectives import Objective, task_loss
from g2d.registry import NoOptions
from g2d.validation import ConfigError


def ume_objective(task: str, modalities: tuple[str, ...]) -> Objective:
    def term(m: str):
        return lambda o, b, t: task_loss(o.modality_logits[m], b.target, task)

    return Objective(task, {f"task_{m}": (1.0, term(m)) for m in modalities})


@METHODS.register("ume", options=NoOptions)
def ume(options: NoOptions, context: MethodContext) -> Method:
    """UME: every modality's path trained on its own task loss; predicts with their combination."""
    if context.task == "regression" and not isinstance(context.model.fusion, LateFusion):
        raise ConfigError(f"method 'ume': for regression the ensemble needs model.fusion.name = 'late' "
                          f"(mean of the unimodal outputs), got {type(context.model.fusion).__name__}")
    return Method(ume_objective(context.task, context.modalities))

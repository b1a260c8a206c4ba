"""UMT, the uni-modal teacher (Du et al., 2023): distil each unimodal teacher's features into the
student's encoder of that modality, with the task loss on the fused head.

``L = L_task(z_s, y) + α · Σ_m MSE(f_s^m, f_t^m)`` — the G2D loss without its logit term, which is
exactly the difference the G2D paper draws between the two (A.6.1). Teacher features come from the
same cache (or online teachers) as G2D's. Works for any number of modalities (one term each).
"""
from __future__ import annotations

from pydantic import Field

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.objectives import Objective, feature_distillation, task_loss
from g2d.registry import Options


class UMTOptions(Options):
    alpha: float = Field(1.0, ge=0, description="weight of the feature-distillation term Σ_m MSE(f_s^m, f_t^m)")


def umt_objective(task: str, alpha: float) -> Objective:
    return Objective(task, {
        "task": (1.0, lambda o, b, t: task_loss(o.logits, b.target, task)),
        "feat": (alpha, lambda o, b, t: feature_distillation(o.features, t.features)),
    }, needs_teachers=True)


@METHODS.register("umt", options=UMTOptions)
def umt(options: UMTOptions, context: MethodContext) -> Method:
    """UMT: task loss on the fused head + L2 distillation of the unimodal teachers' features."""
    return Method(umt_objective(context.task, options.alpha))

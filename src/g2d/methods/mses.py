"""MSES as a method (Fujimori et al., ACPR 2019): multitask training — the fused task loss plus
``unimodal_weight · Σ_m L_task(z_s^m)``, the losses of the modality-specific classifiers the paper
trains beside the multimodal one — and modality-specific early stopping
(:mod:`g2d.modulators.mses`: each encoder frozen once its own validation loss stops falling).

Decided where the paper is silent: the modality-specific classifier is the modality's path
``z_s^m`` through the configured fusion head (a head of its own under ``sum``/``late``), and the
unimodal losses weigh 1 each, like the fused loss. ``unimodal_weight: 0`` gives the task loss alone
(the earlier g2d behaviour). Any number of modalities.
"""
from __future__ import annotations

from pydantic import Field

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.modulators.mses import MSESOptions, mses as build_mses
from g2d.objectives import Objective, task_loss


class MSESMethodOptions(MSESOptions):
    unimodal_weight: float = Field(1.0, ge=0, description="weight of Σ_m L_task(z_s^m), the modality-specific "
                                                          "classifiers' losses (paper: multitask training)")


def multitask_objective(task: str, unimodal_weight: float) -> Objective:
    """``L_task(z_s) + w · Σ_m L_task(z_s^m)``, logged as ``task`` and ``unimodal``."""
    return Objective(task, {
        "task": (1.0, lambda o, b, t: task_loss(o.logits, b.target, task)),
        "unimodal": (unimodal_weight, lambda o, b, t: sum(task_loss(z, b.target, task)
                                                          for z in o.modality_logits.values())),
    })


@METHODS.register("mses", options=MSESMethodOptions)
def mses(options: MSESMethodOptions, context: MethodContext) -> Method:
    """MSES: multitask training; each encoder stops learning when its own val loss stops falling."""
    stopping = MSESOptions(monitor=options.monitor, patience=options.patience, min_delta=options.min_delta)
    return Method(multitask_objective(context.task, options.unimodal_weight), [build_mses(stopping, context)])

"""Data Remixing as a method (Ma, Chen & Deng, ICML 2025): the paper's recipe on the trainer.

``L = L_task(z_s, y) + w · Σ_m L_task(z_s^m, y)`` — the fused loss plus the unimodal heads' losses
(the official code's warm-up weights α = β = 0.5) — under the :mod:`g2d.modulators.remix`
modulator: after the warm-up every sample is reassigned each epoch to the modality whose prediction
is closest to uniform (``argmin_m KL(p^m ‖ U)``) and trained in single-modality sub-batches with
the other modalities' features zeroed. In a sub-batch of modality m the fused loss is the loss of
the head on m alone, so the step trains encoder m on ``L_task(z(f^m, 0)) + w · L_task(z_s^m)``;
the unimodal terms of the zeroed modalities are constants for their encoders (the official code
weighs the one remaining unimodal loss by γ = 1 there; we keep ``w`` for the whole run).

The modulator alone composes onto other methods: ``joint+remix`` (the remixing without the
unimodal terms), ``g2d+remix``, ``umt+remix``. Any number of modalities; classification only.
"""
from __future__ import annotations

from pydantic import Field

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.methods.mses import multitask_objective
from g2d.modulators.remix import RemixOptions, build_remix


class RemixMethodOptions(RemixOptions):
    unimodal_weight: float = Field(0.5, ge=0, description="weight w of Σ_m L_task(z_s^m), the unimodal heads' "
                                   "losses (official warm-up α = β = 0.5)")


@METHODS.register("remix", options=RemixMethodOptions)
def remix(options: RemixMethodOptions, context: MethodContext) -> Method:
    """Data Remixing (Ma et al. 2025): fused + unimodal losses; after a warm-up each sample trains
    only the modality whose prediction is closest to uniform, in single-modality sub-batches."""
    return Method(multitask_objective(context.task, options.unimodal_weight),
                  [build_remix(RemixOptions(warmup=options.warmup), context)])

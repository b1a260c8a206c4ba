"""OGM and OGM-GE as methods: joint training's task loss + the on-the-fly gradient modulation
(:mod:`g2d.modulators.ogm`, which documents the formula and how it extends to M > 2)."""
from __future__ import annotations

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.modulators.ogm import OGMGEOptions, OGMOptions, build_ogm
from g2d.objectives import task_objective


@METHODS.register("ogm", options=OGMOptions)
def ogm(options: OGMOptions, context: MethodContext) -> Method:
    """OGM (Peng et al. 2022): the dominant encoder's gradient scaled by 1 − tanh(α·ratio)."""
    return Method(task_objective(context.task), [build_ogm(options, context, "ogm")])


@METHODS.register("ogm-ge", options=OGMGEOptions)
def ogm_ge(options: OGMGEOptions, context: MethodContext) -> Method:
    """OGM-GE (Peng et al. 2022): OGM plus Gaussian noise of each gradient's own std."""
    return Method(task_objective(context.task), [build_ogm(options, context, "ogm-ge")])

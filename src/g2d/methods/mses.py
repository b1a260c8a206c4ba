"""MSES as a method: joint training's task loss + modality-specific early stopping
(:mod:`g2d.modulators.mses`: each encoder frozen once its own validation metric stalls)."""
from __future__ import annotations

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.modulators.mses import MSESOptions, mses as build_mses
from g2d.objectives import task_objective


@METHODS.register("mses", options=MSESOptions)
def mses(options: MSESOptions, context: MethodContext) -> Method:
    """MSES: joint training; each encoder stops learning when its own val metric stops improving."""
    return Method(task_objective(context.task), [build_mses(options, context)])

"""AGM as a method: joint training's task loss + adaptive gradient modulation
(:mod:`g2d.modulators.agm`: Shapley mono-modal responses, any number of modalities)."""
from __future__ import annotations

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.modulators.agm import AGMOptions, agm as build_agm
from g2d.objectives import task_objective


@METHODS.register("agm", options=AGMOptions)
def agm(options: AGMOptions, context: MethodContext) -> Method:
    """AGM (Li et al. 2023): each encoder's gradient scaled by exp(α·(η − r)) from Shapley scores."""
    return Method(task_objective(context.task), [build_agm(options, context)])

"""``g2d-partial``: the G2D loss with *partial* suppression instead of SMP (paper Table 6).

The dominant modality (by the teachers' confidences ρ, as SMP ranks them) is not switched off but
has its encoder's gradient scaled by OGM-GE's ``1 − tanh(a·ratio)`` during the same window SMP
would prioritise (τ_1 + … + τ_{M−1} epochs), then all modalities train jointly. See
:mod:`g2d.modulators.partial` for the ratio with M > 2 modalities.
"""
from __future__ import annotations

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.methods.g2d import DistillOptions
from g2d.modulators.partial import PartialOptions, build_partial
from g2d.objectives import g2d_objective


class G2DPartialOptions(DistillOptions, PartialOptions):
    pass


@METHODS.register("g2d-partial", options=G2DPartialOptions)
def g2d_partial(options: G2DPartialOptions, context: MethodContext) -> Method:
    """The G2D loss with OGM-GE-style partial suppression driven by the teachers' confidences."""
    objective = g2d_objective(context.task, options.alpha, options.beta, options.temperature, options.gamma)
    return Method(objective, [build_partial(options, context)])

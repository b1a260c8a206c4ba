"""Partial suppression driven by the teachers' confidences (G2D ablation, paper Table 6).

OGM-GE's rule with the *teachers'* batch confidences ρ^m (spec Eq. 5) as scores instead of the
student's own outputs: the encoder of a modality whose ρ exceeds the reference ρ of the others is
scaled by ``1 − tanh(a · ratio)`` (see :mod:`g2d.modulators.ogm` for the formula, the M > 2
reference and the parameter selection). It is the *partial* counterpart of SMP's *complete*
suppression, so it runs over the same window as SMP's prioritisation phases: the first
``τ_1 + … + τ_{M−1}`` epochs (``phases``, same default as SMP), joint training afterwards. That
keeps the Table 6 comparison to one difference: how the dominant modality is suppressed.
"""
from __future__ import annotations

from pydantic import Field
from torch import Tensor

from g2d.modulators.base import MODULATORS, ModulatorContext, StepState
from g2d.modulators.gradients import PARAMS_DESCRIPTION, ParamSelection, encoder_parameter_sets
from g2d.modulators.ogm import DiscrepancyModulation, Formula, Reference
from g2d.modulators.smp import SMPOptions


class PartialOptions(SMPOptions):
    strength: float = Field(0.1, gt=0, description="a in 1 − tanh(a·ratio) (OGM-GE's α)")
    reference: Reference = Field("mean", description="the others' ρ the ratio divides by: mean | max | min")
    coefficient: Formula = Field("paper", description="paper: 1 − tanh(a·ratio); "
                                 "shifted: 1 − tanh(a·(ratio − 1))")
    params: ParamSelection = Field("all", description=PARAMS_DESCRIPTION)
    noise: bool = Field(False, description="also add OGM-GE's N(0, std(grad)) noise")


def teacher_scores(state: StepState) -> dict[str, Tensor]:
    if state.confidence is None:
        raise RuntimeError("partial suppression needs teacher confidences; the method provided none")
    return dict(state.confidence)


class TeacherDiscrepancyModulation(DiscrepancyModulation):
    needs_teachers = True  # scores are the teachers' confidences ρ^m


def build_partial(options: PartialOptions, context: ModulatorContext) -> TeacherDiscrepancyModulation:
    params = encoder_parameter_sets(context.model, options.params, "partial.params")
    window = sum(options.resolved(len(context.modalities), context.epochs))
    return TeacherDiscrepancyModulation(params, teacher_scores, alpha=options.strength,
                                        reference=options.reference, formula=options.coefficient,
                                        noise=options.noise, start_epoch=0, end_epoch=window, name="partial")


@MODULATORS.register("partial", options=PartialOptions)
def partial(options: PartialOptions, context: ModulatorContext) -> TeacherDiscrepancyModulation:
    """Partial suppression: OGM-GE's 1 − tanh(a·ratio) on ratios of the teachers' confidences ρ."""
    return build_partial(options, context)

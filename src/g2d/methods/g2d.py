"""The G2D family (paper Table 4): ``joint`` (task loss), ``smp`` (task loss + SMP), ``g2d-loss``
(G2D loss, no SMP) and ``g2d`` (G2D loss + SMP)."""
from __future__ import annotations

from pydantic import Field

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.modulators.smp import SequentialModalityPrioritization, SMPOptions, build_smp
from g2d.objectives import g2d_objective, task_objective
from g2d.registry import NoOptions, Options


class DistillOptions(Options):
    alpha: float = Field(1.0, ge=0, description="weight of the feature-alignment term L_feat")
    beta: float = Field(1.0, ge=0, description="weight of the logit-distillation term L_logit")
    temperature: float = Field(1.0, gt=0, description="KD temperature T")
    gamma: float = Field(0.0, ge=0, description="weight of per-modality logit distillation "
                         "Σ_m KL(teacher m ‖ z_s^m) (project extension; 0 = the paper)")


class G2DOptions(DistillOptions, SMPOptions):
    """``g2d``'s defaults are the project's (README, "Does G2D beat joint training on real data?"):
    each teacher distilled into its own modality's path (γ = 1) instead of into the fused output
    (β = 0), with the neglect ranking and adaptive schedule of :class:`SMPOptions`. The paper's
    G2D is ``{beta: 1, gamma: 0, ranking: teacher, schedule: fixed}`` (``configs/paper/``)."""

    beta: float = Field(0.0, ge=0, description="weight of the logit-distillation term L_logit "
                        "(fused output; the paper's 1.0)")
    gamma: float = Field(1.0, ge=0, description="weight of per-modality logit distillation "
                         "Σ_m KL(teacher m ‖ z_s^m) (project default 1.0; the paper's 0)")


def _smp(options: SMPOptions, context: MethodContext) -> SequentialModalityPrioritization:
    return build_smp(options, context.modalities, context.task, context.epochs)


@METHODS.register("joint", options=NoOptions)
def joint(options: NoOptions, context: MethodContext) -> Method:
    """Plain joint training: the task loss on the fused output."""
    return Method(task_objective(context.task))


@METHODS.register("smp", options=SMPOptions)
def smp_only(options: SMPOptions, context: MethodContext) -> Method:
    """Joint training's task loss under Sequential Modality Prioritization (ablation)."""
    return Method(task_objective(context.task), [_smp(options, context)])


@METHODS.register("g2d-loss", options=DistillOptions)
def g2d_loss(options: DistillOptions, context: MethodContext) -> Method:
    """The G2D loss L_task + α·L_feat + β·L_logit (+ γ·L_own, 0 by default) without SMP (ablation)."""
    return Method(g2d_objective(context.task, options.alpha, options.beta, options.temperature, options.gamma))


@METHODS.register("g2d", options=G2DOptions)
def g2d(options: G2DOptions, context: MethodContext) -> Method:
    """Gradient-Guided Distillation: the G2D loss with Sequential Modality Prioritization."""
    objective = g2d_objective(context.task, options.alpha, options.beta, options.temperature, options.gamma)
    return Method(objective, [_smp(options, context)])

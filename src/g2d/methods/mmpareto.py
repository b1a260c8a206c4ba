"""MMPareto (Wei & Hu, ICML 2024): the multimodal loss plus one unimodal loss per modality, with
the gradients of each encoder combined so that no objective is hurt.

Objectives: ``L_mm = L_task(z_s, y)`` on the fused output and ``L_m = L_task(z_s^m, y)`` on each
modality's own path. Encoder m is shared by exactly two of them, ``L_mm`` and ``L_m``; their
gradients on the encoder's parameters, ``g_mm`` and ``g_m`` (computed separately with
``torch.autograd.grad``), are combined per encoder:

- no conflict (``cos(g_mm, g_m) > 0``): equal weights, ``d = ½ g_mm + ½ g_m``;
- conflict (``cos ≤ 0``): the min-norm point of their convex hull (the Pareto / MGDA direction),
  ``d = γ g_mm + (1 − γ) g_m`` with ``γ = clip(((g_m − g_mm)·g_m) / ‖g_mm − g_m‖², 0, 1)``.

Either way ``d·g_mm ≥ 0`` and ``d·g_m ≥ 0`` (for the min-norm point ``d·g ≥ ‖d‖²`` for every g of
the hull). Magnitude rule: the direction is ``2d`` (the weights sum to 2 like the plain sum's), and
where the plain sum ``g_mm + g_m`` is longer, the result is stretched to its length — so the
Pareto direction never takes a smaller step than the uniform combination — then multiplied by
``scale`` (1.5 in the official code). We rescale per encoder rather than per parameter tensor as
the official code does: one positive factor per encoder keeps the non-negative inner products with
``g_mm`` and ``g_m`` on the whole encoder, which per-tensor factors do not guarantee. The fusion head receives
the plain sum of all objectives' gradients, as the official code gives its heads. Any number of
modalities (each encoder still meets exactly two objectives). Costs M + 2 backward passes a step.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from pydantic import Field
from torch import Tensor, nn

from g2d.methods._unimodal import GradientSurgery
from g2d.methods.base import METHODS, Method, MethodContext
from g2d.modulators.base import StepState
from g2d.objectives import Objective, task_loss
from g2d.registry import Options

if TYPE_CHECKING:
    from g2d.step import StepRunner


class MMParetoOptions(Options):
    scale: float = Field(1.5, gt=0, description="factor on the combined encoder gradient (official code: 1.5)")


def pareto_weights(g_mm: Tensor, g_m: Tensor) -> tuple[Tensor, Tensor]:
    """Weights (γ, 1 − γ): ½ each without conflict, else the min-norm point of the segment."""
    if torch.dot(g_mm, g_m) > 0:
        half = g_mm.new_tensor(0.5)
        return half, half
    diff = g_mm - g_m
    gamma = (torch.dot(-diff, g_m) / torch.dot(diff, diff).clamp_min(1e-20)).clamp(0, 1)
    return gamma, 1 - gamma


def combine(g_mm: Tensor, g_m: Tensor, scale: float = 1.0) -> Tensor:
    """MMPareto's combined gradient for one encoder (flat vectors in, flat vector out)."""
    w_mm, w_m = pareto_weights(g_mm, g_m)
    direction = 2 * (w_mm * g_mm + w_m * g_m)
    plain = (g_mm + g_m).norm()
    length = direction.norm()
    stretch = torch.where(plain > length, plain / length.clamp_min(1e-20), torch.ones_like(plain))
    return scale * stretch * direction


def flat_grads(loss: Tensor, params: list[nn.Parameter]) -> Tensor:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1).float()
                      for g, p in zip(grads, params)])


def mmpareto_objective(task: str, modalities: tuple[str, ...]) -> Objective:
    def unimodal(m: str):
        return lambda o, b, t: task_loss(o.modality_logits[m], b.target, task)

    terms = {"task": (1.0, lambda o, b, t: task_loss(o.logits, b.target, task))}
    terms.update({f"task_{m}": (1.0, unimodal(m)) for m in modalities})
    return Objective(task, terms)


class MMParetoMethod(Method):
    def __init__(self, task: str, modalities: tuple[str, ...], options: MMParetoOptions) -> None:
        super().__init__(mmpareto_objective(task, modalities))
        self.options = options
        self.combined: dict[str, Tensor] = {}
        self.params: dict[str, list[nn.Parameter]] = {}
        self.surgery = GradientSurgery(self.write_gradients)

    def encoder_params(self, runner: "StepRunner", modality: str) -> list[nn.Parameter]:
        return [p for p in runner.model.encoder_parameters(modality) if p.requires_grad]

    def training_step(self, runner: "StepRunner", state: StepState) -> dict[str, Tensor]:
        terms, loss = self.forward_objective(runner, state)
        self.combined, self.params = {}, {}
        learners = [m for m in runner.model.modalities if state.active is None or m in state.active]
        for m in learners:
            params = self.encoder_params(runner, m)
            g_mm, g_m = flat_grads(terms["task"], params), flat_grads(terms[f"task_{m}"], params)
            self.combined[m], self.params[m] = combine(g_mm, g_m, self.options.scale), params
        runner.backward(loss, state, self.modulators)  # the head's gradient: the plain sum
        runner.optimizer_step(state, [self.surgery, *self.modulators])
        return terms

    def write_gradients(self, state: StepState) -> None:
        """Replace each encoder's summed gradient by its combined gradient (unscaled, final)."""
        for m, flat in self.combined.items():
            start = 0
            for p in self.params[m]:
                n = p.numel()
                p.grad = flat[start:start + n].view_as(p).to(p.dtype)
                start += n
        self.combined, self.params = {}, {}


@METHODS.register("mmpareto", options=MMParetoOptions)
def mmpareto(options: MMParetoOptions, context: MethodContext) -> Method:
    """MMPareto (Wei & Hu 2024): multimodal + unimodal losses, encoder gradients combined without conflict."""
    return MMParetoMethod(context.task, context.modalities, options)

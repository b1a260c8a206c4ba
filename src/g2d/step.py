"""One training step's plumbing: the state a step starts from and the runner a method steps with.

:func:`build_step_state` is the one place a step's :class:`StepState` is made — by the trainer,
the step benchmarks and the method tests alike — and :class:`StepRunner` fixes the order of the
hooks around backward and the optimiser step.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ContextManager, Protocol

import torch
from torch import Tensor

from g2d import distributed
from g2d.data.base import Batch
from g2d.modulators.base import Modulator, StepState
from g2d.runtime import autocast, make_grad_scaler
from g2d.scoring import confidence_means, teacher_confidence

if TYPE_CHECKING:
    from g2d.methods.base import Method
    from g2d.model import MultimodalModel
    from g2d.objectives import TeacherOutputs


class TeacherSource(Protocol):
    """Where a step gets the teachers' outputs for its batch (cache on disk, or teachers online)."""

    def lookup(self, batch: Batch) -> "TeacherOutputs": ...


def build_step_state(method: "Method", batch: Batch, *, epoch: int, step: int, modalities: tuple[str, ...],
                     task: str, teachers: TeacherSource | None = None) -> StepState:
    """The state ``method`` steps on for ``batch``: with the teachers' outputs and each modality's
    ρ over the (global, under DDP) batch when the method needs teachers."""
    state = StepState(epoch, step, modalities, task, batch)
    if method.needs_teachers:
        if teachers is None:
            raise ValueError("this method needs teacher outputs: pass teachers= (a cache or online teachers)")
        state.teacher = teachers.lookup(batch)  # batch.index is on the host: no sync
        state.teacher_rho = teacher_confidence(state.teacher, modalities, batch.target, task)
        confidence = confidence_means(state.teacher_rho, modalities)
        state.confidence = distributed.global_confidence(confidence, len(batch))
    return state


class StepRunner:
    """The pieces of a step that a method calls: autocast, backward, optimiser step.

    Fixes the hook order: backward → ``on_after_backward`` → unscale → ``on_before_optimizer_step``
    → step → zero grads (set to None, so an encoder that did not run stays untouched).
    """

    def __init__(self, model: "MultimodalModel", optimizer: torch.optim.Optimizer, device: torch.device,
                 precision: str) -> None:
        self.model, self.optimizer, self.device, self.precision = model, optimizer, device, precision
        # fp16: a skipped step (inf/nan gradients) moves nothing; a suppressed encoder has no
        # gradient at all, so neither a skipped nor a taken step can move it.
        self.scaler = make_grad_scaler(device, precision)

    def autocast(self) -> ContextManager:
        return autocast(self.device, self.precision)

    def backward(self, loss: Tensor, state: StepState, modulators: list[Modulator]) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()
        for modulator in modulators:
            modulator.on_after_backward(state)

    def optimizer_step(self, state: StepState, modulators: list[Modulator]) -> None:
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        for modulator in modulators:
            modulator.on_before_optimizer_step(state, self.optimizer)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

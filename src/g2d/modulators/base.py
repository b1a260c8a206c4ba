"""Gradient modulators: objects the trainer calls around forward, backward and the optimiser step.

Hook order in one step (fixed by the trainer, never by a modulator):
  (``split_batch(state)``          – may split the batch into sub-batches, each stepped as below in
                                       turn, e.g. Data Remixing's single-modality batches)
  0. ``on_before_forward(state)``  – may replace ``state.batch`` (e.g. drop modality inputs)
  1. ``select_active(state)``      – which modalities learn in this step (None = no opinion)
  2. forward, objective, backward
  3. ``on_after_backward(state)``  – gradients exist but may still be scaled (fp16 GradScaler)
  4. ``on_before_optimizer_step(state, optimizer)`` – gradients are unscaled and accumulated;
     per-modality rescaling (OGM-GE, partial suppression) belongs here
  5. ``optimizer.step()``; then ``on_epoch_end`` once per epoch with validation metrics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import Tensor

from g2d.data.base import Batch
from g2d.registry import Registry

if TYPE_CHECKING:
    from g2d.model import ModelOutput, MultimodalModel
    from g2d.objectives import TeacherOutputs


@dataclass
class StepState:
    """Everything a method or modulator may read or write about the current step."""

    epoch: int
    step: int  # global step count, from 0
    modalities: tuple[str, ...]
    task: str
    batch: Batch
    teacher: "TeacherOutputs | None" = None
    confidence: dict[str, Tensor] | None = None  # ρ^m of this batch (0-d tensors)
    teacher_rho: Tensor | None = None  # (M, B) per-sample teacher true-label confidence, ``modalities`` order
    active: frozenset[str] | None = None  # modalities whose encoders learn in this step
    output: "ModelOutput | None" = None
    focus: str | None = None  # a sub-step's one modality (its batch was assembled for it; Data Remixing)


@dataclass(frozen=True)
class ModulatorContext:
    """What a modulator's factory receives: the same for every modulator."""

    modalities: tuple[str, ...]
    task: str
    epochs: int
    model: "MultimodalModel"


class Modulator:
    """Base class: every hook is a no-op; subclasses override the ones they need."""

    needs_teachers: bool = False

    #: True when the modulator needs the default step (:meth:`g2d.methods.base.Method.training_step`),
    #: whose hooks it relies on; composing it onto a method with its own step is refused.
    needs_default_step: bool = False

    def split_batch(self, state: StepState) -> list[StepState] | None:
        """Sub-steps to run instead of one step on ``state`` (each with its own forward, backward
        and optimiser step); None = one step. Only the default step honours it."""
        return None

    def on_before_forward(self, state: StepState) -> None:
        pass

    def select_active(self, state: StepState) -> frozenset[str] | None:
        return None

    def on_after_backward(self, state: StepState) -> None:
        pass

    def on_before_optimizer_step(self, state: StepState, optimizer: torch.optim.Optimizer) -> None:
        pass

    def on_epoch_end(self, epoch: int, val_metrics: dict[str, Any]) -> None:
        pass

    def epoch_summary(self) -> dict[str, Any]:
        """Figures of the epoch just ended for ``metrics.jsonl`` (read after ``on_epoch_end``)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


MODULATORS: Registry[Callable[..., Modulator]] = Registry("modulator")


def build_modulator(name: str, options: dict[str, Any] | None, context: ModulatorContext) -> Modulator:
    return MODULATORS.create(name, options, context=context)

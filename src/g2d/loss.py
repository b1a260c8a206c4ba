"""The G2D loss as an ``nn.Module`` for a training loop of one's own (``g2d.G2DLoss``).

In the manner of pytorch-metric-learning's losses: built with the task and the weights, called
with the step's tensors, it returns the total and its named terms. It is a thin adapter over
:func:`g2d.objectives.g2d_objective`, the objective ``method: g2d`` trains with, so both compute the
same numbers through the same code; its defaults are read from ``method: g2d``'s options
(:class:`g2d.methods.g2d.G2DOptions`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
from pydantic import ValidationError
from torch import Tensor, nn

from g2d.data.base import Batch
from g2d.methods.g2d import DistillOptions, G2DOptions
from g2d.model import ModelOutput
from g2d.objectives import TeacherOutputs, g2d_objective
from g2d.registry import format_validation_error
from g2d.validation import ConfigError

_DEFAULTS = G2DOptions()  # the keyword defaults below are method g2d's, never re-typed
TASKS = ("classification", "regression")


@dataclass
class G2DLossOutput:
    """The total loss (``.loss``, to call ``.backward()`` on) and its weighted terms by name
    (``task``, ``feat``, ``logit``, ``own``; a term of weight 0 is left out): ``loss`` is their sum."""

    loss: Tensor
    terms: dict[str, Tensor]


class G2DLoss(nn.Module):
    """``L_task + α·L_feat + β·L_logit + γ·L_own`` (spec Eq. 1–4; γ: each teacher distilled into its
    own modality's path ``z_s^m``, the project's extension).

    Args:
        task: ``classification`` (cross-entropy, integer class targets) or ``regression``
            (MSE of ``sigmoid(z)`` against float targets in [0, 1]).
        alpha: weight of the feature alignment ``Σ_m MSE(f_s^m, f_t^m)``.
        beta: weight of the fused-output distillation ``Σ_m T²·KL(softmax(z_t^m/T) ‖ softmax(z_s/T))``.
        gamma: weight of the per-modality distillation ``Σ_m T²·KL(softmax(z_t^m/T) ‖ softmax(z_s^m/T))``.
        temperature: the distillation temperature T.

    The defaults are ``method: g2d``'s; the paper's loss is ``G2DLoss(beta=1.0, gamma=0.0)``.
    """

    def __init__(self, task: str = "classification", *, alpha: float = _DEFAULTS.alpha,
                 beta: float = _DEFAULTS.beta, gamma: float = _DEFAULTS.gamma,
                 temperature: float = _DEFAULTS.temperature) -> None:
        super().__init__()
        if task not in TASKS:
            raise ConfigError(f"G2DLoss: task must be one of {list(TASKS)}, got {task!r}")
        try:
            DistillOptions(alpha=alpha, beta=beta, gamma=gamma, temperature=temperature)
        except ValidationError as err:
            raise ConfigError(f"G2DLoss: {format_validation_error(err)}") from None
        self.task, self.alpha, self.beta, self.gamma, self.temperature = task, alpha, beta, gamma, temperature
        self.objective = g2d_objective(task, alpha, beta, temperature, gamma)

    def extra_repr(self) -> str:
        return (f"task={self.task!r}, alpha={self.alpha}, beta={self.beta}, gamma={self.gamma}, "
                f"temperature={self.temperature}")

    def forward(self, logits: Tensor, *, target: Tensor, modality_logits: Mapping[str, Tensor] | None = None,
                features: Mapping[str, Tensor] | None = None, teacher: TeacherOutputs | None = None,
                teacher_logits: Mapping[str, Tensor] | None = None,
                teacher_features: Mapping[str, Tensor] | None = None) -> G2DLossOutput:
        """The loss of one batch.

        Args:
            logits: the student's fused logits ``z_s`` (B, C) (regression: (B, 1) or (B,)).
            target: class indices (B,) of an integer dtype, or float targets in [0, 1] (regression).
            modality_logits: ``z_s^m`` by modality, each shaped like ``logits`` (needed when γ > 0).
            features: the student's encoder features ``f_s^m`` by modality (needed when α > 0).
            teacher: the teachers' outputs for the batch (``TeacherCache.lookup``), or instead
            teacher_logits / teacher_features: ``z_t^m`` and ``f_t^m`` by modality, computed online.
        """
        teachers = self._teachers(teacher, teacher_logits, teacher_features)
        student = {"modality_logits": dict(modality_logits or {}), "features": dict(features or {})}
        self._check(logits, target, student, teachers)
        output = ModelOutput(logits, student["modality_logits"], student["features"])
        batch = Batch({}, target, torch.empty(0, dtype=torch.long))  # the objective reads the target only
        terms = self.objective(output, batch, teachers)
        return G2DLossOutput(torch.stack(list(terms.values())).sum(), terms)  # as the trainer's step sums them

    def _teachers(self, teacher: TeacherOutputs | None, logits: Mapping[str, Tensor] | None,
                  features: Mapping[str, Tensor] | None) -> TeacherOutputs:
        if teacher is not None:
            if logits is not None or features is not None:
                raise ValueError("G2DLoss: pass either teacher= (a TeacherCache lookup) or teacher_logits= / "
                                 "teacher_features=, not both")
            if not isinstance(teacher, TeacherOutputs):
                raise TypeError(f"G2DLoss: teacher= expects TeacherOutputs (from TeacherCache.lookup), got "
                                f"{type(teacher).__name__}; pass dicts as teacher_logits= / teacher_features=")
            return teacher
        return TeacherOutputs(dict(logits or {}), dict(features or {}))

    def _check(self, logits: Tensor, target: Tensor, student: dict[str, dict[str, Tensor]],
               teachers: TeacherOutputs) -> None:
        """Name the missing input, the modality or the shape at fault before the objective runs."""
        needs = {"features": ("alpha", self.alpha), "modality_logits": ("gamma", self.gamma)}
        for name, (weight, value) in needs.items():
            if value != 0 and not student[name]:
                raise ValueError(f"G2DLoss: {weight}={value} needs {name}= (a dict modality -> tensor); "
                                 f"pass it or set {weight}=0")
        wants_logits, wants_features = self.beta != 0 or self.gamma != 0, self.alpha != 0
        if wants_logits and not teachers.logits:
            raise ValueError("G2DLoss: beta/gamma > 0 need the teachers' logits: pass teacher= (a TeacherCache "
                             "lookup) or teacher_logits= (a dict modality -> (B, C))")
        if wants_features and not teachers.features:
            raise ValueError("G2DLoss: alpha > 0 needs the teachers' features: pass teacher= (a TeacherCache "
                             "lookup) or teacher_features= (a dict modality -> (B, D))")
        self._check_target(logits, target)
        batch, shape = int(target.shape[0]), tuple(logits.shape)
        reference = teachers.logits if teachers.logits else teachers.features
        modalities = sorted(reference)
        given = {"modality_logits": student["modality_logits"], "features": student["features"],
                 "teacher_logits": teachers.logits if wants_logits else {},
                 "teacher_features": teachers.features if wants_features else {}}
        for name, tensors in given.items():
            if tensors and sorted(tensors) != modalities:
                raise ValueError(f"G2DLoss: {name} has modalities {sorted(tensors)}, the teachers' outputs have "
                                 f"{modalities}; pass the same modalities everywhere")
        for name in ("modality_logits", "teacher_logits"):
            for m, z in given[name].items():
                if tuple(z.shape) != shape:
                    raise ValueError(f"G2DLoss: {name}[{m!r}] has shape {tuple(z.shape)}, expected the fused "
                                     f"logits' shape {shape}")
        for m, f in given["features"].items():
            t = given["teacher_features"].get(m)
            if f.ndim < 1 or f.shape[0] != batch or (t is not None and t.shape != f.shape):
                expected = f"the teacher's {tuple(t.shape)}" if t is not None else f"({batch}, ...)"
                raise ValueError(f"G2DLoss: features[{m!r}] has shape {tuple(f.shape)}, expected {expected}")

    def _check_target(self, logits: Tensor, target: Tensor) -> None:
        if not isinstance(target, Tensor):
            raise TypeError(f"G2DLoss: target must be a tensor, got {type(target).__name__}")
        batch = int(logits.shape[0]) if logits.ndim else 0
        if self.task == "classification":
            if logits.ndim != 2:
                raise ValueError(f"G2DLoss: logits must be (batch, classes), got shape {tuple(logits.shape)}")
            if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
                raise ValueError(f"G2DLoss: classification targets must be integer class indices (e.g. "
                                 f"torch.long), got dtype {target.dtype}; for float targets use "
                                 f"G2DLoss('regression')")
        elif not target.is_floating_point():
            raise ValueError(f"G2DLoss: regression targets must be floats in [0, 1], got dtype {target.dtype}")
        if tuple(target.shape) != (batch,):
            raise ValueError(f"G2DLoss: target has shape {tuple(target.shape)}, expected ({batch},) (one per "
                             f"row of logits {tuple(logits.shape)})")

"""Loss terms as composable pieces: pure functions, and an :class:`Objective` that sums named,
weighted terms. Every term returns a scalar; the objective returns all of them by name, so each
one is logged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

from g2d import ops
from g2d.data.base import Batch
from g2d.model import ModelOutput


@dataclass
class TeacherOutputs:
    """Teacher logits ``z_t^m`` and features ``f_t^m`` for the samples of a batch.

    The stacked logits (M, B, C) and their log-softmax per temperature are made once per batch and
    shared by everything that reads them in a step (the distillation terms, ρ^m, SMP's measurement).
    A source that already holds the logits stacked (the cache) passes ``logit_stack``, of which
    ``logits`` are views."""

    logits: dict[str, Tensor]
    features: dict[str, Tensor]
    logit_stack: Tensor | None = None  # (M, B, C) in the order of ``logits``
    feature_stack: Tensor | None = None  # (M, B, D) in the order of ``features``, when widths agree
    confidence: Tensor | None = None  # (M, B) each teacher's true-label confidence, when the source has it
    _log_probs: dict[float, Tensor] = field(default_factory=dict, repr=False)

    def stacked_logits(self) -> Tensor:
        """The teachers' logits (M, B, C) in the order of ``logits``, without gradient."""
        if self.logit_stack is None:
            self.logit_stack = torch.stack(list(self.logits.values())).detach()
        return self.logit_stack

    def set_log_probs(self, temperature: float, log_probs: Tensor) -> None:
        """Hand over ``log_softmax(z_t / T)`` a source has precomputed (the resident cache)."""
        self._log_probs[temperature] = log_probs

    def log_probs(self, temperature: float = 1.0) -> Tensor:
        """``log_softmax(z_t / T)`` (M, B, C) in fp32, computed once per temperature."""
        if temperature not in self._log_probs:
            z = self.stacked_logits().float()
            self._log_probs[temperature] = ops.log_softmax(z if temperature == 1 else z / temperature)
        return self._log_probs[temperature]


def prediction(logits: Tensor, task: str) -> Tensor:
    """Regression outputs are ``sigmoid(z)`` on targets scaled to [0, 1]; classification logits pass."""
    return torch.sigmoid(logits.squeeze(-1)) if task == "regression" else logits


def task_loss(logits: Tensor, target: Tensor, task: str) -> Tensor:
    """Cross-entropy (classification) or MSE of ``sigmoid(z)`` against targets in [0, 1]."""
    if task == "regression":
        return F.mse_loss(prediction(logits, task), target.float())
    return F.cross_entropy(logits, target.long())


def feature_distillation(student: dict[str, Tensor], teacher: dict[str, Tensor]) -> Tensor:
    """``Σ_m MSE(f_s^m, f_t^m)``; the teacher side carries no gradient.

    All modalities at once: the features of each feature shape are stacked to (M, B, D) and reduced
    in one squared-error sum (one group, one reduction, when every encoder has the same width), so
    the cost does not grow with a kernel per modality. Equal to the per-modality sum up to float
    rounding (summation order)."""
    groups: dict[tuple[int, ...], list[str]] = {}
    for m, f in student.items():
        groups.setdefault(tuple(f.shape), []).append(m)
    sums = [F.mse_loss(torch.stack([student[m] for m in names]),
                       torch.stack([teacher[m] for m in names]).detach(), reduction="sum") / math.prod(shape)
            for shape, names in groups.items()]
    return sums[0] if len(sums) == 1 else torch.stack(sums).sum()


def _align_to(student: dict[str, Tensor], teacher: TeacherOutputs) -> Tensor:
    """:func:`feature_distillation` against a step's teacher outputs, on their stacked features
    when the source has them (the same sum, one stack fewer)."""
    t = teacher.feature_stack
    if t is None or list(student) != list(teacher.features) or any(f.shape != t.shape[1:] for f in student.values()):
        return feature_distillation(student, teacher.features)
    return F.mse_loss(torch.stack(list(student.values())), t.detach(), reduction="sum") / math.prod(t.shape[1:])


def logit_distillation(student_logits: Tensor, teacher_logits: dict[str, Tensor], task: str,
                       temperature: float = 1.0) -> Tensor:
    """``Σ_m T² · KL(softmax(z_t^m/T) ‖ softmax(z_s/T))`` (batch mean). Regression: ``Σ_m MSE(σ(z_s), σ(z_t^m))``.

    The teachers' logits are stacked to (M, B, C): one softmax and one KL sum over every modality,
    the student's side broadcast (its gradient sums over M). Equal to the per-modality sum up to
    float rounding; T = 1 skips the division and the T² factor (exactly the same numbers)."""
    return _stacked_distillation(student_logits, torch.stack(list(teacher_logits.values())), task, temperature)


def modality_logit_distillation(modality_logits: dict[str, Tensor], teacher_logits: dict[str, Tensor],
                                task: str, temperature: float = 1.0) -> Tensor:
    """``Σ_m T² · KL(softmax(z_t^m/T) ‖ softmax(z_s^m/T))``: each teacher distilled into its own
    modality's path ``z_s^m`` instead of the fused output (a project extension, not in the paper)."""
    students = stacked_modality_logits(modality_logits, teacher_logits)
    return _stacked_distillation(students, torch.stack(list(teacher_logits.values())), task, temperature)


def stacked_modality_logits(modality_logits: dict[str, Tensor], order: Iterable[str]) -> Tensor:
    """The student's per-modality logits ``z_s^m`` stacked (M, B, C) in ``order``."""
    return torch.stack([modality_logits[m] for m in order])


def _stacked_distillation(students: Tensor, teachers: Tensor, task: str, temperature: float,
                          teacher_log_probs: Tensor | None = None) -> Tensor:
    """Sum over M of the batch-mean distillation loss; ``students`` is (B, C), broadcast, or (M, B, C).
    ``teacher_log_probs``: the teachers' ``log_softmax(z_t / T)`` when the caller already has it."""
    teachers = teachers.detach()  # (M, B, C)
    batch = teachers.shape[1]
    if task == "regression":
        s, t = prediction(students, task), prediction(teachers, task)  # (B,) or (M, B), and (M, B)
        return F.mse_loss(s.expand_as(t), t, reduction="sum") / batch
    scaled = (lambda z: z) if temperature == 1 else (lambda z: z / temperature)
    if teacher_log_probs is None:
        teacher_log_probs = ops.log_softmax(scaled(teachers))
    kl = ops.kl_to_targets(scaled(students), teacher_log_probs) / batch
    return kl if temperature == 1 else temperature ** 2 * kl


def _distill_from(students: Tensor, teacher: TeacherOutputs, task: str, temperature: float) -> Tensor:
    """:func:`_stacked_distillation` against a step's teacher outputs, reusing their log-softmax."""
    log_probs = None if task == "regression" else teacher.log_probs(temperature)
    return _stacked_distillation(students, teacher.stacked_logits(), task, temperature, log_probs)


def _distill_own(output: ModelOutput, teacher: TeacherOutputs, task: str, temperature: float) -> Tensor:
    """:func:`modality_logit_distillation` on a step's outputs; at T = 1 on the student's shared
    per-modality log-softmax (:meth:`ModelOutput.modality_log_probs`), which SMP reads too."""
    order = tuple(teacher.logits)
    if task != "regression" and temperature == 1:
        return ops.kl_between(output.modality_log_probs(order), teacher.log_probs(1.0)) / len(output.logits)
    return _distill_from(stacked_modality_logits(output.modality_logits, order), teacher, task, temperature)


FusedTerms = Callable[[ModelOutput, Batch, "TeacherOutputs | None"], "dict[str, Tensor] | None"]


@dataclass
class Objective:
    """A weighted sum of named terms; ``needs_teachers`` when any term reads teacher outputs.

    ``fused``, when set, computes several of the terms at once (already weighted) where it can — it
    returns None where it cannot, and the terms are then computed one by one: the same values up to
    float rounding."""

    task: str
    terms: dict[str, tuple[float, Callable[..., Tensor]]]
    needs_teachers: bool = False
    fused: FusedTerms | None = None

    def __call__(self, output: ModelOutput, batch: Batch, teacher: TeacherOutputs | None
                 ) -> dict[str, Tensor]:
        done = (self.fused(output, batch, teacher) if self.fused is not None else None) or {}
        return {name: done[name] if name in done else
                term(output, batch, teacher) if weight == 1 else weight * term(output, batch, teacher)
                for name, (weight, term) in self.terms.items() if weight != 0}


def task_objective(task: str) -> Objective:
    return Objective(task, {"task": (1.0, lambda o, b, t: task_loss(o.logits, b.target, task))})


def g2d_objective(task: str, alpha: float, beta: float, temperature: float, gamma: float = 0.0) -> Objective:
    """``L_task + α·L_feat + β·L_logit`` (spec Eq. 1–4), plus ``γ·L_own`` (per-modality logit
    distillation, :func:`modality_logit_distillation`; γ = 0 is the paper)."""
    fused = (lambda o, b, t: _fused_feat_own(o, t, alpha, gamma)) \
        if task != "regression" and temperature == 1 and alpha > 0 and gamma > 0 else None
    return Objective(task, {
        "task": (1.0, lambda o, b, t: task_loss(o.logits, b.target, task)),
        "feat": (alpha, lambda o, b, t: _align_to(o.features, t)),
        "logit": (beta, lambda o, b, t: _distill_from(o.logits, t, task, temperature)),
        "own": (gamma, lambda o, b, t: _distill_own(o, t, task, temperature)),
    }, needs_teachers=True, fused=fused)


def _fused_feat_own(output: ModelOutput, teacher: TeacherOutputs, alpha: float, gamma: float
                    ) -> dict[str, Tensor] | None:
    """``α·L_feat`` and ``γ·L_own`` (T = 1) in one autograd node (:func:`g2d.ops.distill_terms`) when
    the teachers' features come stacked and every modality matches them; None otherwise. The
    students' log-softmax it makes is handed to the output for SMP's measurement."""
    t = teacher.feature_stack
    order = tuple(teacher.logits)
    if t is None or tuple(output.features) != order or tuple(teacher.features) != order or \
            any(f.shape != t.shape[1:] for f in output.features.values()):
        return None
    feat, own, log_q = ops.distill_terms(list(output.features.values()), t,
                                         [output.modality_logits[m] for m in order], teacher.log_probs(1.0),
                                         alpha, gamma)
    output.share_modality_log_probs(order, log_q)
    return {"feat": feat, "own": own}

"""Modality confidence scores ``ρ^m`` (spec Eq. 5) and the per-batch ranking SMP uses."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from g2d import ops
from g2d.metrics.functional import true_label_probability

if TYPE_CHECKING:
    from g2d.model import ModelOutput
    from g2d.objectives import TeacherOutputs


def true_label_confidence(logits: Tensor, target: Tensor, task: str) -> Tensor:
    """Per-sample confidence in fp32: :func:`g2d.metrics.functional.true_label_probability`."""
    return true_label_probability(logits, target, task, dtype=torch.float32)


def modality_confidence(teacher_logits: Mapping[str, Tensor], target: Tensor, task: str) -> dict[str, Tensor]:
    """``ρ^m``: the batch mean of each teacher's true-label confidence (a 0-d tensor per modality,
    kept on device; a mean, so batches of different sizes compare). All modalities in one call."""
    stacked = torch.stack([z.detach() for z in teacher_logits.values()])
    return confidence_means(true_label_confidence(stacked, target, task), tuple(teacher_logits))


def teacher_confidence(teacher: "TeacherOutputs", modalities: Sequence[str], target: Tensor, task: str) -> Tensor:
    """Per-sample true-label confidence of every teacher (M, B) in ``modalities`` order, read from the
    step's shared teacher log-softmax where it has one (the same numbers as
    :func:`true_label_confidence`, without a second softmax), or handed over by the source (the
    resident cache makes it once per sample)."""
    if teacher.confidence is not None and tuple(teacher.logits) == tuple(modalities):
        return teacher.confidence
    if task != "regression" and tuple(teacher.logits) == tuple(modalities):
        return ops.pick_true_label(teacher.log_probs(1.0), target).exp()
    return true_label_confidence(torch.stack([teacher.logits[m].detach() for m in modalities]), target, task)


def student_modality_confidence(output: "ModelOutput", modalities: Sequence[str], target: Tensor,
                                task: str) -> Tensor:
    """Per-sample true-label confidence of the student's modality outputs ``z_s^m`` (M, B), from the
    step's shared log-softmax of them (classification; :meth:`ModelOutput.measured_log_probs`),
    without gradient."""
    if task == "regression":
        return true_label_confidence(torch.stack([output.modality_logits[m].detach() for m in modalities]),
                                     target, task)
    return ops.pick_true_label(output.measured_log_probs(tuple(modalities)), target).exp()


def confidence_means(per_sample: Tensor, modalities: Sequence[str]) -> dict[str, Tensor]:
    """``ρ^m`` by modality from the per-sample confidences (M, B) of ``modalities``."""
    return dict(zip(modalities, per_sample.mean(-1).unbind()))


def rank_ascending(confidence: Mapping[str, float | Tensor], order: Sequence[str]) -> list[str]:
    """Modalities from least to most confident; ties go to the earlier modality in ``order``."""
    position = {m: i for i, m in enumerate(order)}
    values = [confidence[m] for m in order]
    if all(isinstance(v, Tensor) for v in values):  # one device->host read for all modalities
        values = torch.stack([v.detach().float().reshape(()) for v in values]).tolist()
    score = dict(zip(order, (float(v) for v in values)))
    return sorted(order, key=lambda m: (score[m], position[m]))

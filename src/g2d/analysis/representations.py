"""What the student's modality paths look like next to their teachers, over one split:
feature alignment (Fig. 5), confidence ratio (Fig. 6) and modality gap (Fig. 4).

Used twice: every epoch on the validation split (:class:`RepresentationTracker`, logged under
``row["analysis"]``) and once on the test split at the selected checkpoint (:mod:`.posthoc`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from g2d.data.base import MultimodalDataset
from g2d.metrics import ConfidenceRatio, FeatureAlignment, ModalityGap, higher_is_better
from g2d.model import MultimodalModel
from g2d.runtime import autocast
from g2d.data.loader import make_loader

if TYPE_CHECKING:
    from g2d.teachers import Teacher
    from g2d.trainer import Trainer


@dataclass
class SplitTeacherOutputs:
    """Every teacher's logits and features on one split, in the split's sample order (CPU)."""

    logits: dict[str, Tensor]
    features: dict[str, Tensor]


@torch.no_grad()
def teacher_outputs(teachers: "dict[str, Teacher]", dataset: MultimodalDataset, device: torch.device,
                    batch_size: int = 256, precision: str = "fp32") -> SplitTeacherOutputs:
    """Run the frozen teachers once over ``dataset``."""
    logits: dict[str, Tensor] = {}
    features: dict[str, Tensor] = {}
    for m, teacher in teachers.items():
        model = teacher.model.to(device).eval()
        zs, fs = [], []
        for batch in make_loader(dataset, batch_size, shuffle=False):
            batch = batch.to(device)
            with autocast(device, precision):
                out = model({m: batch.inputs[m]}, masks=batch.masks)
            zs.append(out.logits.float().cpu())
            fs.append(out.features[m].float().cpu())
        logits[m], features[m] = torch.cat(zs), torch.cat(fs)
    return SplitTeacherOutputs(logits, features)


def weak_modality(cards: dict[str, dict[str, Any]]) -> str | None:
    """The modality whose teacher scores worst on validation (the paper's "weak" modality)."""
    if not cards:
        return None
    metric = next(iter(cards.values())).get("select_metric", "accuracy")
    sign = -1.0 if higher_is_better(metric) else 1.0
    return max(cards, key=lambda m: sign * float(cards[m]["val"][metric]))


@torch.no_grad()
def representation_scores(model: MultimodalModel, dataset: MultimodalDataset, device: torch.device,
                          teachers: SplitTeacherOutputs | None = None, keep: int = 0,
                          batch_size: int = 256, precision: str = "fp32") -> dict[str, Any]:
    """Alignment and confidence ratio per modality (when teachers are given) and the modality gap.

    The gap is measured between the modalities' student features when every encoder has the same
    width, else between their per-modality outputs ``z_s^m`` (a space all modalities share);
    ``gap["space"]`` says which. ``keep`` > 0 also returns a 2-D PCA of that many embeddings per
    modality under ``"projection"``.
    """
    modalities, task = model.modalities, dataset.info.task
    widths = {m: getattr(model.encoders[m], "out_dim", None) for m in modalities}
    space = "features" if len(set(widths.values())) == 1 and None not in widths.values() else "logits"
    gap = ModalityGap(modalities, keep) if len(modalities) > 1 else None
    aligned: tuple[str, ...] = ()
    if teachers is not None:
        aligned = tuple(m for m in modalities if m in teachers.features
                        and teachers.features[m].shape[1] == widths.get(m))
    align = FeatureAlignment(aligned)
    ratio = ConfidenceRatio(modalities, task)
    was_training = model.training
    model.eval()
    for batch in make_loader(dataset, batch_size, shuffle=False):
        batch = batch.to(device)
        with autocast(device, precision):
            out = model(batch.inputs, masks=batch.masks)
        if gap is not None:
            gap.update(out.features if space == "features" else out.modality_logits)
        if teachers is not None:
            idx = batch.index.cpu()
            align.update({m: out.features[m] for m in aligned}, {m: teachers.features[m][idx] for m in aligned})
            ratio.update(out.modality_logits, {m: teachers.logits[m][idx] for m in modalities}, batch.target)
    model.train(was_training)
    result: dict[str, Any] = {}
    if gap is not None:
        result["gap"] = {**gap.compute(), "space": space}
        if keep > 0:
            result["projection"] = gap.projection()
    if teachers is not None:
        conf = ratio.compute()
        result.update({"alignment": align.compute(), "confidence_ratio": conf["ratio"],
                       "student_confidence": conf["student"], "teacher_confidence": conf["teacher"]})
    return result


class RepresentationTracker:
    """Epoch callback: :func:`representation_scores` on one split (teacher outputs computed once)."""

    def __init__(self, dataset: MultimodalDataset, teachers: "dict[str, Teacher] | None",
                 device: torch.device, split: str = "val", every: int = 1) -> None:
        self.dataset, self.teachers, self.device = dataset, teachers, device
        self.split, self.every = split, every
        self.weak = weak_modality({m: t.card for m, t in (teachers or {}).items()})
        self._outputs: SplitTeacherOutputs | None = None

    def on_epoch_end(self, trainer: "Trainer", epoch: int, row: dict[str, Any]) -> dict[str, Any] | None:
        if epoch % self.every:
            return None
        if self.teachers and self._outputs is None:
            self._outputs = teacher_outputs(self.teachers, self.dataset, trainer.device,
                                            trainer.eval_batch_size, trainer.precision)
        scores = representation_scores(trainer.model, self.dataset, trainer.device, self._outputs,
                                       batch_size=trainer.eval_batch_size, precision=trainer.precision)
        scores["split"] = self.split
        if self.weak is not None:
            scores["weak_modality"] = self.weak
        return scores

"""Accumulate a split's outputs over batches, then score the whole split at once."""
from __future__ import annotations

import torch
from torch import Tensor

from g2d.metrics.functional import (_centroid_update, _confidence_compute, _confidence_update, _cosine_update,
                                   _gap_compute, _ratio_compute, accuracy, normalized, pca_2d,
                                   regression_scores)
from g2d.objectives import prediction, task_loss

_HIGHER_IS_BETTER = {"accuracy": True, "r2": True, "loss": False, "mse": False, "mae": False, "mape": False}


def higher_is_better(metric: str) -> bool:
    if metric not in _HIGHER_IS_BETTER:
        raise ValueError(f"unknown selection metric {metric!r}; expected one of {sorted(_HIGHER_IS_BETTER)}")
    return _HIGHER_IS_BETTER[metric]


class SplitMetrics:
    """Fused and per-modality metrics of one split. Regression scores are in the target's original
    units when ``target_range`` (the min, max that was scaled to [0, 1]) is given."""

    def __init__(self, task: str, modalities: tuple[str, ...],
                 target_range: tuple[float, float] | None = None) -> None:
        self.task, self.modalities, self.target_range = task, modalities, target_range
        self.reset()

    def reset(self) -> None:
        self._logits: list[Tensor] = []
        self._modality_logits: dict[str, list[Tensor]] = {m: [] for m in self.modalities}
        self._targets: list[Tensor] = []

    def update(self, logits: Tensor, modality_logits: dict[str, Tensor], target: Tensor) -> None:
        self._logits.append(logits.detach().float().cpu())
        for m in self.modalities:
            self._modality_logits[m].append(modality_logits[m].detach().float().cpu())
        self._targets.append(target.detach().cpu())

    def _scores(self, logits: Tensor, target: Tensor) -> dict[str, float]:
        if self.task == "classification":
            return {"accuracy": accuracy(logits, target)}
        pred, y = prediction(logits, self.task), target.float()
        if self.target_range is not None:
            lo, hi = self.target_range
            pred, y = lo + pred * (hi - lo), lo + y * (hi - lo)
        return regression_scores(pred, y)

    def compute(self) -> dict:
        if not self._targets:
            raise ValueError("SplitMetrics.compute() called before any update()")
        logits, target = torch.cat(self._logits), torch.cat(self._targets)
        result: dict = {"loss": float(task_loss(logits, target, self.task)), **self._scores(logits, target)}
        per = {m: self._scores(torch.cat(v), target) for m, v in self._modality_logits.items()}
        key = "accuracy" if self.task == "classification" else "mae"
        result[f"modality_{key}"] = {m: s[key] for m, s in per.items()}
        result["modality_loss"] = {m: float(task_loss(torch.cat(v), target, self.task))
                                   for m, v in self._modality_logits.items()}
        if self.task == "regression":
            result["modality_scores"] = per
        result["num_samples"] = int(target.shape[0])
        return result


class FeatureAlignment:
    """Mean cosine similarity of student and teacher features per modality, over a whole split."""

    def __init__(self, modalities: tuple[str, ...]) -> None:
        self.modalities = tuple(modalities)
        self.reset()

    def reset(self) -> None:
        self._sum = {m: 0.0 for m in self.modalities}
        self._count = {m: 0 for m in self.modalities}

    def update(self, student: dict[str, Tensor], teacher: dict[str, Tensor]) -> None:
        for m in self.modalities:
            total, n = _cosine_update(student[m].detach().float().cpu(), teacher[m].detach().float().cpu())
            self._sum[m] += total
            self._count[m] += n

    def compute(self) -> dict[str, float]:
        return {m: _ratio_compute(self._sum[m], self._count[m]) for m in self.modalities}


class ConfidenceRatio:
    """Per modality: the student's mean true-label confidence (softmax of ``z_s^m``), the
    teacher's (softmax of ``z_t^m``), and their ratio, over a whole split."""

    def __init__(self, modalities: tuple[str, ...], task: str = "classification") -> None:
        self.modalities, self.task = tuple(modalities), task
        self.reset()

    def reset(self) -> None:
        self._student = {m: 0.0 for m in self.modalities}
        self._teacher = {m: 0.0 for m in self.modalities}
        self._count = {m: 0 for m in self.modalities}

    def update(self, student_logits: dict[str, Tensor], teacher_logits: dict[str, Tensor], target: Tensor) -> None:
        target = target.detach().cpu()
        for m in self.modalities:
            s, t, n = _confidence_update(student_logits[m].detach().float().cpu(),
                                         teacher_logits[m].detach().float().cpu(), target, self.task)
            self._student[m] += s
            self._teacher[m] += t
            self._count[m] += n

    def compute(self) -> dict[str, dict[str, float]]:
        """``{"ratio": {m: …}, "student": {m: mean}, "teacher": {m: mean}}``."""
        return {"ratio": {m: _confidence_compute(self._student[m], self._teacher[m]) for m in self.modalities},
                "student": {m: _ratio_compute(self._student[m], self._count[m]) for m in self.modalities},
                "teacher": {m: _ratio_compute(self._teacher[m], self._count[m]) for m in self.modalities}}


class ModalityGap:
    """Centroids of each modality's L2-normalised embeddings over a split, the distances between
    them, and (optionally) the first ``keep`` embeddings of each modality for a 2-D projection."""

    def __init__(self, modalities: tuple[str, ...], keep: int = 0) -> None:
        if len(modalities) < 2:
            raise ValueError(f"ModalityGap needs at least 2 modalities, got {list(modalities)}")
        self.modalities, self.keep = tuple(modalities), keep
        self.reset()

    def reset(self) -> None:
        self._sum: dict[str, Tensor | None] = {m: None for m in self.modalities}
        self._count = {m: 0 for m in self.modalities}
        self._kept: dict[str, list[Tensor]] = {m: [] for m in self.modalities}

    def update(self, embeddings: dict[str, Tensor]) -> None:
        for m in self.modalities:
            x = embeddings[m].detach().float().cpu()
            total, n = _centroid_update(x)
            self._sum[m] = total if self._sum[m] is None else self._sum[m] + total
            self._count[m] += n
            room = self.keep - sum(len(k) for k in self._kept[m])
            if room > 0:
                self._kept[m].append(x[:room])

    def compute(self) -> dict:
        """``{"distance": mean pairwise gap, "pairs": {"a|b": gap}}`` (one pair when M = 2)."""
        if any(c == 0 for c in self._count.values()):
            raise ValueError("ModalityGap.compute() called before any update()")
        pairs = {}
        for i, a in enumerate(self.modalities):
            for b in self.modalities[i + 1:]:
                pairs[f"{a}|{b}"] = _gap_compute(self._sum[a], self._count[a], self._sum[b], self._count[b])
        return {"distance": sum(pairs.values()) / len(pairs), "pairs": pairs}

    def projection(self) -> dict:
        """2-D PCA of the kept, normalised embeddings of all modalities together:
        ``{"points": {m: [[x, y], …]}, "centroids": {m: [x, y]}, "explained": [v1, v2]}``."""
        kept = {m: torch.cat(v) for m, v in self._kept.items() if v}
        if len(kept) != len(self.modalities):
            raise ValueError("ModalityGap.projection() needs keep > 0 and at least one update()")
        stacked = torch.cat([normalized(kept[m]) for m in self.modalities])
        coords, share = pca_2d(stacked)
        points, start = {}, 0
        for m in self.modalities:
            n = kept[m].shape[0]
            points[m] = coords[start:start + n]
            start += n
        return {"points": {m: p.tolist() for m, p in points.items()},
                "centroids": {m: p.mean(0).tolist() for m, p in points.items()},
                "explained": share.tolist()}

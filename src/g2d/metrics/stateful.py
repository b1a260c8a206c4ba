"""Accumulate a split's outputs over batches, then score the whole split at once."""
from __future__ import annotations

import torch
from torch import Tensor

from g2d.metrics.functional import accuracy, regression_scores
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
        if self.task == "regression":
            result["modality_scores"] = per
        result["num_samples"] = int(target.shape[0])
        return result

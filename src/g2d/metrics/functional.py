"""Pure metric functions over whole tensors (no state, no per-batch averaging)."""
from __future__ import annotations

import torch
from torch import Tensor


def accuracy(logits: Tensor, target: Tensor) -> float:
    """Share of samples whose arg-max class equals the target."""
    if logits.shape[0] != target.shape[0]:
        raise ValueError(f"accuracy: {logits.shape[0]} predictions but {target.shape[0]} targets")
    return float((logits.argmax(-1) == target.long()).float().mean())


def regression_scores(pred: Tensor, target: Tensor, eps: float = 1e-8) -> dict[str, float]:
    """MSE, MAE, MAPE (%, over targets with |y| > eps) and R² of ``pred`` against ``target``."""
    pred, target = pred.double().flatten(), target.double().flatten()
    err = pred - target
    nonzero = target.abs() > eps
    mape = float((err[nonzero].abs() / target[nonzero].abs()).mean() * 100) if nonzero.any() else float("nan")
    ss_tot = float(((target - target.mean()) ** 2).sum())
    r2 = 1.0 - float((err ** 2).sum()) / ss_tot if ss_tot > 0 else float("nan")
    return {"mse": float((err ** 2).mean()), "mae": float(err.abs().mean()), "mape": mape, "r2": r2}

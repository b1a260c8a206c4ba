"""Pure metric functions over whole tensors (no state, no per-batch averaging).

Metrics that an accumulator builds over batches are split torchmetrics-style into an ``_update``
part (sums over the samples it sees) and a ``_compute`` part (the score from those sums); the
public function chains the two, so one batch and a whole split give the same number.
"""
from __future__ import annotations

import torch
from torch import Tensor

from g2d import ops


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


# ---- feature alignment (paper Fig. 5) -----------------------------------------------------------
def _check_pair(a: Tensor, b: Tensor, what: str) -> None:
    if a.dim() != 2 or a.shape != b.shape:
        raise ValueError(f"{what}: expected two (N, D) tensors of the same shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")


def _cosine_update(student: Tensor, teacher: Tensor, eps: float = 1e-8) -> tuple[float, int]:
    """Sum over samples of cos(f_s, f_t), and the number of samples."""
    _check_pair(student, teacher, "feature alignment")
    cos = torch.nn.functional.cosine_similarity(student.double(), teacher.double(), dim=1, eps=eps)
    return float(cos.sum()), int(cos.shape[0])


def _ratio_compute(total: float, count: int) -> float:
    return total / count if count else float("nan")


def feature_alignment(student: Tensor, teacher: Tensor) -> float:
    """Mean over samples of the cosine similarity between student and teacher features (N, D)."""
    return _ratio_compute(*_cosine_update(student, teacher))


# ---- confidence ratio (paper Fig. 6) ------------------------------------------------------------
def true_label_probability(logits: Tensor, target: Tensor, task: str,
                           dtype: torch.dtype = torch.float64) -> Tensor:
    """Per-sample confidence on the true label, computed in ``dtype``: softmax probability of the
    target class; for regression ``1 − |sigmoid(z) − y|`` on targets in [0, 1] (our choice where the
    paper is silent). The one definition of ρ's per-sample term: :mod:`g2d.scoring` calls it in fp32
    during training, the metrics in fp64. ``logits`` is (B, C) — or (M, B, C), M modalities scored
    in one call — against targets (B,)."""
    samples = logits.shape[0] if logits.dim() == 1 else logits.shape[-2]
    if samples != target.shape[0]:
        raise ValueError(f"true-label confidence: {samples} predictions but {target.shape[0]} targets")
    if task == "regression":
        z = logits if logits.dim() == 1 else logits.squeeze(-1)
        return 1.0 - (torch.sigmoid(z.to(dtype)) - target.to(dtype).reshape(-1)).abs()
    return ops.true_label_log_probability(logits.to(dtype), target).exp()


def _confidence_update(student_logits: Tensor, teacher_logits: Tensor, target: Tensor,
                       task: str) -> tuple[float, float, int]:
    """Sums of the student's and the teacher's true-label confidence, and the sample count."""
    s = true_label_probability(student_logits, target, task)
    t = true_label_probability(teacher_logits, target, task)
    return float(s.sum()), float(t.sum()), int(s.shape[0])


def _confidence_compute(student_sum: float, teacher_sum: float) -> float:
    return student_sum / teacher_sum if teacher_sum > 0 else float("nan")


def confidence_ratio(student_logits: Tensor, teacher_logits: Tensor, target: Tensor,
                     task: str = "classification") -> float:
    """Mean true-label confidence of the student's modality output ``z_s^m`` divided by the mean
    true-label confidence of that modality's teacher ``z_t^m`` (1 = as confident as alone)."""
    s, t, _ = _confidence_update(student_logits, teacher_logits, target, task)
    return _confidence_compute(s, t)


# ---- modality gap (paper Fig. 4) ----------------------------------------------------------------
def normalized(x: Tensor, eps: float = 1e-12) -> Tensor:
    """Rows scaled to unit L2 norm (all-zero rows stay zero)."""
    x = x.double()
    return x / x.norm(dim=1, keepdim=True).clamp_min(eps)


def _centroid_update(x: Tensor) -> tuple[Tensor, int]:
    """Sum of the unit-normalised rows of ``x`` (N, D), and N."""
    if x.dim() != 2:
        raise ValueError(f"modality gap: expected (N, D) features, got shape {tuple(x.shape)}")
    return normalized(x).sum(0), int(x.shape[0])


def _gap_compute(sum_a: Tensor, n_a: int, sum_b: Tensor, n_b: int) -> float:
    if sum_a.shape != sum_b.shape:
        raise ValueError(f"modality gap: feature widths differ ({sum_a.shape[0]} vs {sum_b.shape[0]}); "
                         "compare modalities in a shared space (e.g. their logits)")
    return float((sum_a / n_a - sum_b / n_b).norm())


def modality_gap(a: Tensor, b: Tensor) -> float:
    """Euclidean distance between the centroids of two modalities' L2-normalised embeddings
    (Liang et al., 2022): 0 when they overlap, at most 2."""
    return _gap_compute(*_centroid_update(a), *_centroid_update(b))


def pca_2d(x: Tensor) -> tuple[Tensor, Tensor]:
    """Project rows of ``x`` (N, D) on their first two principal components.

    Returns the (N, 2) coordinates and the share of the total variance each component explains.
    Components are sign-fixed (largest-magnitude loading positive) so projections are reproducible.
    """
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"pca_2d: expected (N, D) with N >= 2, got shape {tuple(x.shape)}")
    centred = x.double() - x.double().mean(0, keepdim=True)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    comps = vh[:2]
    if comps.shape[0] < 2:
        comps = torch.cat([comps, torch.zeros_like(comps)])
        s = torch.cat([s, torch.zeros(1, dtype=s.dtype)])
    signs = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    comps = comps * torch.where(signs == 0, torch.ones_like(signs), signs)
    var = s ** 2
    share = var[:2] / var.sum() if float(var.sum()) > 0 else torch.zeros(2, dtype=var.dtype)
    return centred @ comps.T, share

"""Robustness to missing modalities at test time (paper A.7.1): drop modality inputs at a given
rate, keep at least one modality per sample, and score the model on what is left.

Definition used here (the paper follows MLA and gives no formula): a *miss rate* ``r`` is the share
of the N×M (sample, modality) inputs that are missing. Each sample first keeps one modality drawn
at random; ``round(r·N·M)`` of the remaining inputs are then drawn uniformly and zeroed. For one
seed the masks are nested: every input missing at rate r is also missing at any higher rate. With M
modalities at most ``(M−1)/M`` of the inputs can be missing (50 % for two modalities); a larger
rate is capped there and the rate actually applied is reported as ``realised_rate``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor

from g2d.data.base import Batch, MultimodalDataset
from g2d.model import MultimodalModel
from g2d.trainer import evaluate

DEFAULT_RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def missing_mask(num_samples: int, num_modalities: int, rate: float, seed: int = 0) -> Tensor:
    """(N, M) bool mask, True where the input is *present*; every row keeps at least one True."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"miss rate must be in [0, 1], got {rate}")
    if num_samples < 1 or num_modalities < 1:
        raise ValueError(f"missing_mask: need at least one sample and one modality, got "
                         f"{num_samples} samples and {num_modalities} modalities")
    gen = torch.Generator().manual_seed(int(seed))  # not the rate: masks of higher rates are nested
    keep = torch.randint(0, num_modalities, (num_samples,), generator=gen)
    present = torch.ones(num_samples, num_modalities, dtype=torch.bool)
    droppable = torch.ones_like(present)
    droppable[torch.arange(num_samples), keep] = False
    candidates = droppable.flatten().nonzero().flatten()
    target = min(round(rate * num_samples * num_modalities), int(candidates.numel()))
    chosen = candidates[torch.randperm(candidates.numel(), generator=gen)[:target]]
    present.view(-1)[chosen] = False
    return present


@dataclass
class ZeroMissing:
    """Batch transform: zero each modality input that ``present`` (N, M, split order) marks missing."""

    present: Tensor
    modalities: tuple[str, ...]

    def __call__(self, batch: Batch) -> Batch:
        rows = self.present.to(batch.index.device)[batch.index]  # (B, M)
        inputs = {}
        for j, m in enumerate(self.modalities):
            x = batch.inputs[m]
            keep = rows[:, j].to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
            inputs[m] = x * keep
        return Batch(inputs, batch.target, batch.index, batch.masks)


def missing_modality_curve(model: MultimodalModel, dataset: MultimodalDataset, device: torch.device | str,
                           rates: Sequence[float] = DEFAULT_RATES, seed: int = 0, batch_size: int = 256,
                           precision: str = "fp32") -> list[dict[str, Any]]:
    """Fused and per-modality metrics of ``model`` on ``dataset`` at each miss rate.

    The masks depend only on (N, M, rate, seed), so every model scored with the same seed sees the
    same missing inputs. Returns ``[{"rate", "realised_rate", "metrics"}, …]``.
    """
    device = torch.device(device)
    modalities = model.modalities
    rows = []
    for rate in rates:
        present = missing_mask(len(dataset), len(modalities), float(rate), seed)
        metrics = evaluate(model, dataset, device, batch_size, precision,
                           transform=ZeroMissing(present, modalities))
        rows.append({"rate": float(rate), "realised_rate": float(1.0 - present.float().mean()),
                     "metrics": metrics})
    return rows

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
from g2d.data.missing import missing_mask
from g2d.model import MultimodalModel
from g2d.trainer import evaluate

DEFAULT_RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


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

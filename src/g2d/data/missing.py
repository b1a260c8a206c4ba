"""Which (sample, modality) inputs are missing: one seeded mask shared by the missing-modality
analysis (:mod:`g2d.analysis.missing`) and the modality-dropout modulator, so it sits in the data
layer below both."""
from __future__ import annotations

import torch
from torch import Tensor


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

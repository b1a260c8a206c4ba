"""Per-step figures (loss terms, teacher confidences ρ) summed over an epoch on the device.

Each step's figures are stacked into one vector, weighted by the batch size and added to the
epoch's sum: two small operations per step however many terms and modalities there are (one
per figure and per operation before), no device→host copy. :meth:`EpochSums.read` copies the
sums to the host once per epoch. The arithmetic per figure is what it was (``x·n`` rounded, then
added in float32), so logged numbers are unchanged.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor


class EpochSums:
    """Batch-weighted sums of named 0-d tensors over one epoch (see the module docstring)."""

    def __init__(self) -> None:
        self._sums: dict[tuple[str, ...], Tensor] = {}  # names of a step -> their sums

    def add(self, figures: Mapping[str, Tensor], weight: int) -> None:
        """Add ``weight ·`` each figure (``weight``: the batch's samples); no autograd graph."""
        if not figures:
            return
        names = tuple(figures)
        with torch.no_grad():
            step = torch.stack(list(figures.values())).float() * weight
        total = self._sums.get(names)
        self._sums[names] = step if total is None else total + step

    def read(self) -> dict[str, float]:
        """The sum of each name — one device→host copy for all of them."""
        if not self._sums:
            return {}
        groups = list(self._sums.items())
        values = iter(torch.cat([sums for _, sums in groups]).tolist())
        out: dict[str, float] = {}
        for names, _ in groups:  # a name logged by steps with different figure sets sums over them
            for name in names:
                out[name] = out.get(name, 0.0) + next(values)
        return out

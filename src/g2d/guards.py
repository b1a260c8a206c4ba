"""Non-finite guards: a diverged run (NaN/Inf loss or weights) stops with an error naming the model,
epoch and step, before anything non-finite is checkpointed, saved, cached or distilled.

The per-step check stays on the device: :meth:`FiniteGuard.observe` records the first step whose
loss is not finite in a device tensor (no host sync); :meth:`FiniteGuard.check` reads it once per
epoch, with one reduction over the weights. Under fp16 loss scaling a non-finite loss is expected
now and then (the scaler skips that step), so only the weights are checked there; under DDP too
(the ranks' weights are identical, so every rank stops at the same epoch).
"""
from __future__ import annotations

import torch
from torch import Tensor

from g2d.validation import G2DError


class NonFiniteError(G2DError):
    """Training diverged: the loss or the weights hold NaN or Inf."""


ADVICE = ("lower the learning rate (teachers.optim.lr / student.optim.lr), or check the inputs; the last "
          "finished epoch's checkpoint is intact")


def nonfinite_parameters(module: torch.nn.Module) -> list[str]:
    """Names of the parameters and float buffers holding NaN or Inf (one host read)."""
    tensors = [(n, t) for n, t in module.state_dict().items() if t.is_floating_point() and t.numel()]
    if not tensors:
        return []
    finite = torch.stack([torch.isfinite(t.detach()).all() for _, t in tensors]).cpu()
    return [n for (n, _), ok in zip(tensors, finite.tolist()) if not ok]


class FiniteGuard:
    """Watches one model's training: ``observe`` each step's loss terms, ``check`` each epoch."""

    def __init__(self, description: str, device: torch.device, check_loss: bool = True) -> None:
        self.description, self.device, self.check_loss = description, device, check_loss
        self.first_step: int | None = None
        self.bad_step = torch.full((), -1, dtype=torch.long, device=device)

    def observe(self, terms: dict[str, Tensor], step: int) -> None:
        """Remember ``step`` if its loss is the epoch's first non-finite one (stays on the device)."""
        if self.first_step is None:
            self.first_step = step
        if not self.check_loss or not terms:
            return
        loss = sum(v.detach().float().sum() for v in terms.values())
        first = (self.bad_step < 0) & ~torch.isfinite(loss)
        self.bad_step = torch.where(first, torch.full_like(self.bad_step, step), self.bad_step)

    def check(self, model: torch.nn.Module, epoch: int) -> None:
        """NonFiniteError naming the model, epoch and step when this epoch's loss or the weights
        are not finite; resets for the next epoch."""
        bad_step, first = int(self.bad_step.item()), self.first_step or 0
        self.bad_step.fill_(-1)
        self.first_step = None
        if bad_step >= 0:
            raise NonFiniteError(f"{self.description}: the training loss became NaN or Inf at epoch {epoch}, "
                                 f"step {bad_step} (step {bad_step - first} of the epoch); training stopped "
                                 f"and nothing from this epoch was saved — {ADVICE}")
        bad = nonfinite_parameters(model)
        if bad:
            raise NonFiniteError(f"{self.description}: the weights became NaN or Inf during epoch {epoch} "
                                 f"({', '.join(bad[:3])}{', …' if len(bad) > 3 else ''}); training stopped and "
                                 f"nothing from this epoch was saved — {ADVICE}")

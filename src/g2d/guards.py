"""Non-finite guards: a diverged run (NaN/Inf loss or weights) stops with an error naming the model,
epoch and step, before anything non-finite is checkpointed, saved, cached or distilled.

The per-step check costs no kernel and no host sync: :meth:`FiniteGuard.observe` keeps a reference
to each step's (detached) loss terms; :meth:`FiniteGuard.check` stacks them once per epoch, finds
the first non-finite step, and reduces the weights once. Under fp16 loss scaling a non-finite loss is expected
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
        self.terms: dict[str, tuple[list[int], list[Tensor]]] = {}

    def observe(self, terms: dict[str, Tensor], step: int) -> None:
        """Keep this step's loss terms for the epoch-end check (a reference: no kernel, no sync)."""
        if self.first_step is None:
            self.first_step = step
        if not self.check_loss:
            return
        for name, value in terms.items():
            steps, values = self.terms.setdefault(name, ([], []))
            steps.append(step)
            values.append(value.detach())

    def first_nonfinite_step(self) -> tuple[int, str] | None:
        """(step, term) of the epoch's first non-finite loss term, or None."""
        found = []
        for name, (steps, values) in self.terms.items():
            scalar = all(v.dim() == 0 for v in values)
            stacked = torch.stack(values if scalar else [v.float().sum() for v in values])
            bad = torch.nonzero(~torch.isfinite(stacked))
            if len(bad):
                found.append((steps[int(bad[0])], name))
        return min(found) if found else None

    def check(self, model: torch.nn.Module, epoch: int) -> None:
        """NonFiniteError naming the model, epoch and step when this epoch's loss or the weights
        are not finite; resets for the next epoch."""
        bad_step, first = self.first_nonfinite_step(), self.first_step or 0
        self.terms, self.first_step = {}, None
        if bad_step is not None:
            step, term = bad_step
            raise NonFiniteError(f"{self.description}: the training loss became NaN or Inf at epoch {epoch}, "
                                 f"step {step} (step {step - first} of the epoch; loss term {term!r}); training "
                                 f"stopped and nothing from this epoch was saved — {ADVICE}")
        bad = nonfinite_parameters(model)
        if bad:
            raise NonFiniteError(f"{self.description}: the weights became NaN or Inf during epoch {epoch} "
                                 f"({', '.join(bad[:3])}{', …' if len(bad) > 3 else ''}); training stopped and "
                                 f"nothing from this epoch was saved — {ADVICE}")


def for_training(description: str, device: torch.device, precision: str, distributed: bool) -> FiniteGuard:
    """The trainer's guard: the loss is checked except under fp16 loss scaling (a skipped step is
    expected there) and under DDP (ranks could disagree; their weights, checked always, cannot)."""
    return FiniteGuard(description, device, check_loss=precision != "fp16" and not distributed)

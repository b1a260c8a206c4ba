"""Modality-specific early stopping, MSES: each encoder stops learning when its own validation
metric stops improving.

After every epoch the trainer hands over the validation metrics; the modulator reads each
modality's own metric (``modality_accuracy`` for classification — the accuracy of ``z_s^m``, higher
is better; ``modality_mae`` for regression, lower is better). When a modality has gone ``patience``
epochs without improving its best value by more than ``min_delta``, its encoder is frozen for the
rest of training and never unfrozen. Freezing = :meth:`select_active` leaves it out, so it runs
without autograd, its gradients stay ``None`` and ``optimizer.step()`` leaves it bit-for-bit
unchanged (momentum and weight decay included). Like an SMP-suppressed encoder it still runs in
train mode, so BatchNorm running statistics keep tracking the data. The fusion head keeps learning.
Works for any number of modalities: each one is tracked on its own.
"""
from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from g2d.modulators.base import MODULATORS, Modulator, ModulatorContext, StepState
from g2d.registry import Options


class MSESOptions(Options):
    patience: int = Field(5, gt=0, description="epochs without improvement of a modality's own val "
                                               "metric before its encoder is frozen")
    min_delta: float = Field(0.0, ge=0, description="smallest change that counts as an improvement")


class ModalityEarlyStopping(Modulator):
    def __init__(self, modalities: tuple[str, ...], patience: int, min_delta: float = 0.0) -> None:
        self.modalities, self.patience, self.min_delta = modalities, patience, min_delta
        self.best: dict[str, float] = {}
        self.waited: dict[str, int] = {m: 0 for m in modalities}
        self.frozen: dict[str, int] = {}  # modality -> epoch after which it was frozen

    def select_active(self, state: StepState) -> frozenset[str] | None:
        if not self.frozen:
            return None
        return frozenset(m for m in self.modalities if m not in self.frozen)

    def on_epoch_end(self, epoch: int, val_metrics: dict[str, Any]) -> None:
        higher = "modality_accuracy" in val_metrics
        key = "modality_accuracy" if higher else "modality_mae"
        if key not in val_metrics:
            raise KeyError(f"MSES needs per-modality validation metrics ({key}); got {sorted(val_metrics)}")
        for m in self.modalities:
            if m in self.frozen:
                continue
            value = float(val_metrics[key][m])
            best = self.best.get(m)
            gain = -math.inf if best is None or math.isnan(value) else (value - best if higher else best - value)
            if best is None or gain > self.min_delta:
                if not math.isnan(value):
                    self.best[m], self.waited[m] = value, 0
                continue
            self.waited[m] += 1
            if self.waited[m] >= self.patience:
                self.frozen[m] = epoch

    def state_dict(self) -> dict[str, Any]:
        return {"best": dict(self.best), "waited": dict(self.waited), "frozen": dict(self.frozen)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = {m: float(v) for m, v in state.get("best", {}).items()}
        self.waited = {m: int(state.get("waited", {}).get(m, 0)) for m in self.modalities}
        self.frozen = {m: int(v) for m, v in state.get("frozen", {}).items()}


@MODULATORS.register("mses", options=MSESOptions)
def mses(options: MSESOptions, context: ModulatorContext) -> ModalityEarlyStopping:
    """Modality-specific early stopping: freeze each encoder once its own val metric stalls."""
    return ModalityEarlyStopping(context.modalities, options.patience, options.min_delta)

"""Modality-specific early stopping, MSES (Fujimori, Endo, Kawai & Mochizuki, "Modality-specific
learning rate control for multimodal classification", ACPR 2019): each encoder stops learning once
its own modality-specific classifier overfits, while the others and the fusion head go on.

The paper trains a modality-specific classifier beside the multimodal one (multitask: the method
:mod:`g2d.methods.mses` adds their losses) and detects overfitting of each modality on the
validation split, stopping that modality's learning separately. Here the modality-specific
classifier is the modality's own path ``z_s^m`` through the fusion head (its own head under the
``sum``/``late`` fusions). After every epoch the trainer hands over the validation metrics; with
the default ``monitor: loss`` the modulator reads ``modality_loss`` (the task loss of ``z_s^m`` on
val, lower is better — the paper's overfitting signal); ``monitor: metric`` reads
``modality_accuracy`` (higher is better) or, for regression, ``modality_mae`` (lower is better).

Defaults (decided where the paper's text available to us is silent): ``patience: 1`` — a modality
stops at the first epoch whose validation loss is not below its best so far, the classic reading
of "early stopping when the validation loss starts to rise"; ``min_delta: 0``. With these defaults
a modality whose path memorises noise stops within a few epochs of a short budget (tested), which
the earlier default (patience 5 on accuracy) seldom did.

Freezing = :meth:`select_active` leaves the modality out, so its encoder runs without autograd, its
gradients stay ``None`` and ``optimizer.step()`` leaves it bit-for-bit unchanged (momentum and
weight decay included); it is never unfrozen. Like an SMP-suppressed encoder it still runs in
train mode, so BatchNorm running statistics keep tracking the data. The fusion head keeps
learning. Any number of modalities: each one is tracked on its own; when every modality has
stopped only the fusion head learns.
"""
from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from g2d.modulators.base import MODULATORS, Modulator, ModulatorContext, StepState
from g2d.registry import Options


class MSESOptions(Options):
    monitor: Literal["loss", "metric"] = Field("loss", description="what each modality is watched on: loss = "
                                               "val task loss of its own output z_s^m (the paper's overfitting "
                                               "signal) | metric = its val accuracy (regression: MAE)")
    patience: int = Field(1, gt=0, description="epochs without improvement of a modality's own val "
                                               "signal before its encoder is frozen")
    min_delta: float = Field(0.0, ge=0, description="smallest change that counts as an improvement")


def monitored(val_metrics: dict[str, Any], monitor: str) -> tuple[str, bool]:
    """The key of ``val_metrics`` to watch and whether higher is better."""
    if monitor == "loss":
        return "modality_loss", False
    return ("modality_accuracy", True) if "modality_accuracy" in val_metrics else ("modality_mae", False)


class ModalityEarlyStopping(Modulator):
    def __init__(self, modalities: tuple[str, ...], patience: int, min_delta: float = 0.0,
                 monitor: str = "loss") -> None:
        self.modalities, self.patience, self.min_delta, self.monitor = modalities, patience, min_delta, monitor
        self.best: dict[str, float] = {}
        self.waited: dict[str, int] = {m: 0 for m in modalities}
        self.frozen: dict[str, int] = {}  # modality -> epoch after which it was frozen

    def select_active(self, state: StepState) -> frozenset[str] | None:
        if not self.frozen:
            return None
        return frozenset(m for m in self.modalities if m not in self.frozen)

    def on_epoch_end(self, epoch: int, val_metrics: dict[str, Any]) -> None:
        key, higher = monitored(val_metrics, self.monitor)
        if key not in val_metrics:
            raise KeyError(f"MSES (monitor: {self.monitor}) needs per-modality validation values {key!r}; "
                           f"got {sorted(val_metrics)}")
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
    """Modality-specific early stopping: freeze each encoder once its own val loss stops falling."""
    return ModalityEarlyStopping(context.modalities, options.patience, options.min_delta, options.monitor)

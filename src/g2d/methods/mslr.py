"""MSLR, modality-specific learning rates (Yao & Mihalcea, "Modality-specific Learning Rates for
Effective Multimodal Additive Late-fusion", Findings of ACL 2022): each encoder gets its own
learning rate instead of one global rate.

The paper builds the multimodal model from unimodal ones and compares strategies for the
per-modality rates; two are here. ``strategy: keep`` — static rates: each modality keeps the rate
that suits its unimodal model, given per modality as an absolute rate (``rates``) or as a multiple
of ``student.optim.lr`` (``scales``). ``strategy: dynamic`` (the default, the paper's adaptive
strategy, which needs no per-modality rate search) starts from those rates and, every ``window``
epochs, multiplies modality m's rate by ``v_m(now) / mean(v_m over the last window epochs)``, where
``v_m`` is m's own validation accuracy (the accuracy of ``z_s^m``; regression: the inverse ratio of
its MAE). A modality still improving gets a larger rate; one that has stalled or degrades gets a
smaller one. So with default options the rates differ from joint training's as soon as the first
window closes (tested), unlike the earlier default, which was joint training under another name.

Decided where the paper is silent: ``window: 5`` (the window of a public re-implementation); a
modality whose mean over the window is 0 or undefined keeps its rate; the change is applied to the
encoder's optimiser parameter group at the next step, on top of the step-decay schedule (the
schedule multiplies whatever rate the group has), and lives in the optimiser's state, so
checkpoints restore it. A modality named in neither ``rates`` nor ``scales`` starts at the global
rate. The fusion head uses ``fusion_rate`` (default: the global rate) and is never adapted. The loss
is joint training's task loss. Any number of modalities: each one's rate is adapted on its own.
"""
from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import Field

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.model import MultimodalModel
from g2d.modulators.base import Modulator, StepState
from g2d.objectives import Objective, task_objective
from g2d.registry import ExperimentContext, Options


class MSLROptions(Options):
    strategy: Literal["dynamic", "keep"] = Field("dynamic", description="dynamic: adapt each encoder's rate to "
                                                 "its own val accuracy every `window` epochs (paper's adaptive "
                                                 "strategy) | keep: static rates")
    window: int = Field(5, gt=0, description="epochs per adaptation; the ratio divides by the mean over them")
    rates: dict[str, float] = Field(default_factory=dict, description="absolute (initial) learning rate per "
                                    "modality's encoder")
    scales: dict[str, float] = Field(default_factory=dict, description="(initial) learning rate per modality's "
                                     "encoder as a multiple of student.optim.lr (ignored where rates names it)")
    fusion_rate: float | None = Field(None, gt=0, description="learning rate of the fusion head; "
                                                               "null = student.optim.lr")

    def check_against(self, context: ExperimentContext) -> None:
        for field in ("rates", "scales"):
            values = getattr(self, field)
            unknown = sorted(set(values) - set(context.modalities))
            if unknown:
                raise ValueError(f"{field}: unknown modalities {unknown}; the data set has {list(context.modalities)}")
            bad = {m: v for m, v in values.items() if not v > 0}
            if bad:
                raise ValueError(f"{field}: every value must be > 0, got {bad}")


def encoder_group(modality: str) -> str:
    return f"encoder.{modality}"


class DynamicRates(Modulator):
    """Every ``window`` epochs, a factor per modality from its own val metric; applied to the
    encoder's parameter group just before the next optimiser step."""

    def __init__(self, modalities: tuple[str, ...], window: int) -> None:
        self.modalities, self.window = modalities, window
        self.history: dict[str, list[float]] = {m: [] for m in modalities}
        self.pending: dict[str, float] = {}
        self.factors: list[dict[str, float]] = []  # every adaptation so far, for the record

    def on_epoch_end(self, epoch: int, val_metrics: dict[str, Any]) -> None:
        higher = "modality_accuracy" in val_metrics
        key = "modality_accuracy" if higher else "modality_mae"
        if key not in val_metrics:
            raise KeyError(f"MSLR (strategy: dynamic) needs per-modality validation metrics ({key}); "
                           f"got {sorted(val_metrics)}")
        for m in self.modalities:
            self.history[m] = (self.history[m] + [float(val_metrics[key][m])])[-self.window:]
        if (epoch + 1) % self.window:
            return
        factors = {}
        for m in self.modalities:
            now, mean = self.history[m][-1], sum(self.history[m]) / len(self.history[m])
            ratio = now / mean if higher else mean / now
            factors[m] = ratio if math.isfinite(ratio) and ratio > 0 else 1.0
        self.pending = factors
        self.factors.append(factors)

    def on_before_optimizer_step(self, state: StepState, optimizer: torch.optim.Optimizer) -> None:
        if not self.pending:
            return
        for group in optimizer.param_groups:
            for m, factor in self.pending.items():
                if group.get("name") == encoder_group(m):
                    group["lr"] *= factor
        self.pending = {}

    def state_dict(self) -> dict[str, Any]:
        return {"history": {m: list(v) for m, v in self.history.items()}, "pending": dict(self.pending),
                "factors": [dict(f) for f in self.factors]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = {m: [float(x) for x in state.get("history", {}).get(m, [])] for m in self.modalities}
        self.pending = {m: float(v) for m, v in state.get("pending", {}).items()}
        self.factors = [{m: float(v) for m, v in f.items()} for f in state.get("factors", [])]


class MSLRMethod(Method):
    def __init__(self, objective: Objective, options: MSLROptions, modalities: tuple[str, ...]) -> None:
        adapt = [DynamicRates(modalities, options.window)] if options.strategy == "dynamic" else []
        super().__init__(objective, adapt)
        self.options = options

    def encoder_rate(self, modality: str, lr: float) -> float:
        if modality in self.options.rates:
            return self.options.rates[modality]
        return lr * self.options.scales.get(modality, 1.0)

    def param_groups(self, model: MultimodalModel, lr: float) -> list[dict[str, Any]]:
        """One group per encoder with its own rate, then one for everything else (the fusion head)."""
        groups, seen = [], set()
        for m in model.modalities:
            params = [p for p in model.encoders[m].parameters() if p.requires_grad]
            seen.update(id(p) for p in params)
            groups.append({"params": params, "lr": self.encoder_rate(m, lr), "name": encoder_group(m)})
        rest = [p for p in model.parameters() if p.requires_grad and id(p) not in seen]
        groups.append({"params": rest, "lr": self.options.fusion_rate or lr, "name": "fusion"})
        return [g for g in groups if g["params"]]


@METHODS.register("mslr", options=MSLROptions)
def mslr(options: MSLROptions, context: MethodContext) -> Method:
    """MSLR: a learning rate per modality's encoder, adapted to its own val accuracy by default."""
    return MSLRMethod(task_objective(context.task), options, context.modalities)

"""MSLR, modality-specific learning rates (Yao & Mihalcea, 2022): each encoder gets its own
learning rate instead of one global rate.

The rates are static, given per modality either as an absolute learning rate (``rates``, the
paper's "keep" variant: each modality keeps the rate that suits its unimodal model) or as a
multiple of the configured ``student.optim.lr`` (``scales``); a modality named in neither uses the
global rate. The fusion head uses ``fusion_rate`` (default: the global rate). The rates live in the
optimiser's parameter groups, so the step-decay schedule scales all of them alike and checkpoints
restore them. The loss is joint training's task loss. Any number of modalities.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.model import MultimodalModel
from g2d.objectives import Objective, task_objective
from g2d.registry import ExperimentContext, Options


class MSLROptions(Options):
    rates: dict[str, float] = Field(default_factory=dict, description="absolute learning rate per modality's encoder")
    scales: dict[str, float] = Field(default_factory=dict, description="learning rate per modality's encoder as "
                                     "a multiple of student.optim.lr (ignored where rates names the modality)")
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


class MSLRMethod(Method):
    def __init__(self, objective: Objective, options: MSLROptions) -> None:
        super().__init__(objective)
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
            groups.append({"params": params, "lr": self.encoder_rate(m, lr), "name": f"encoder.{m}"})
        rest = [p for p in model.parameters() if p.requires_grad and id(p) not in seen]
        groups.append({"params": rest, "lr": self.options.fusion_rate or lr, "name": "fusion"})
        return [g for g in groups if g["params"]]


@METHODS.register("mslr", options=MSLROptions)
def mslr(options: MSLROptions, context: MethodContext) -> Method:
    """MSLR: joint training with a learning rate per modality's encoder."""
    return MSLRMethod(task_objective(context.task), options)

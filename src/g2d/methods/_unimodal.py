"""Helpers shared by the methods that train or read one modality at a time (MLA, ReconBoost,
DI-MML): one encoder's features, one modality's path through the fusion head, per-sample
uncertainty, and a modulator that runs gradient surgery where gradients are final."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from g2d.data.base import Batch
from g2d.model import ModelOutput, MultimodalModel
from g2d.modulators.base import Modulator, StepState


def encode_one(model: MultimodalModel, batch: Batch, modality: str) -> Tensor:
    """``f_s^m`` of one modality, with autograd; the other encoders do not run at all."""
    encoder = model.encoders[modality]
    masks = batch.masks
    extra = {"mask": masks[modality]} if masks and modality in masks and getattr(encoder, "uses_mask", False) else {}
    return encoder(batch.inputs[modality], **extra)


def modality_path(model: MultimodalModel, modality: str, feature: Tensor) -> Tensor:
    """``z_s^m`` from ``f_s^m`` alone, as the fusion defines it (:meth:`g2d.fusion.base.Fusion.modality_path`)."""
    return model.fusion.modality_path(modality, feature)


def check_shapes_once(model: MultimodalModel, batch: Batch, checked: list[bool]) -> None:
    """The model's input-shape check, which ``model.forward`` runs on the first batch."""
    if not checked[0]:
        model.check_input_shapes(batch.inputs)
        checked[0] = True


def entropy(logits: Tensor) -> Tensor:
    """Per-sample entropy of ``softmax(logits)``: (B, C) -> (B,)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def weighted_sum(per_modality: dict[str, Tensor], weights: Tensor) -> Tensor:
    """``Σ_m w[m, i] · z^m_i``: weights (M, B) in the dict's order, logits (B, C) each -> (B, C)."""
    stacked = torch.stack([z.float() for z in per_modality.values()])  # (M, B, C)
    return (weights[..., None] * stacked).sum(0).to(next(iter(per_modality.values())).dtype)


def replace_logits(output: ModelOutput, logits: Tensor) -> ModelOutput:
    return ModelOutput(logits, output.modality_logits, output.features)


class GradientSurgery(Modulator):
    """Runs ``fn(state)`` in ``on_before_optimizer_step``: gradients are accumulated and unscaled
    (fp16) there, so a method can rewrite ``.grad`` before the optimiser reads it."""

    def __init__(self, fn: Callable[[StepState], None]) -> None:
        self.fn = fn

    def on_before_optimizer_step(self, state: StepState, optimizer: torch.optim.Optimizer) -> None:
        self.fn(state)

"""Random modality dropout during training: each step zeroes a share of the batch's (sample,
modality) inputs, keeping at least one modality per sample — the training-time counterpart of the
missing-modality analysis (:mod:`g2d.analysis.missing`, same mask definition), so a model can be
trained to stay robust when a modality is absent at test time.

Compose it onto any method whose step runs the default forward, e.g. ``joint+modality-dropout`` or
``method: {name: g2d, modulators: [{name: modality-dropout, options: {rate: 0.2}}]}``. Teacher
outputs stay those of the complete input, so distillation still targets the full teachers. The
mask is drawn from torch's generator, which the trainer reseeds every epoch: runs stay
reproducible and resumable.
"""
from __future__ import annotations

from dataclasses import replace

import torch
from pydantic import Field

from g2d.data.missing import missing_mask
from g2d.modulators.base import MODULATORS, Modulator, ModulatorContext, StepState
from g2d.registry import Options


class ModalityDropoutOptions(Options):
    rate: float = Field(0.2, ge=0, lt=1, description="share of (sample, modality) inputs zeroed per step")


class ModalityDropout(Modulator):
    def __init__(self, rate: float, modalities: tuple[str, ...]) -> None:
        self.rate, self.modalities = rate, modalities

    def on_before_forward(self, state: StepState) -> None:
        batch = state.batch
        n = len(batch)
        seed = int(torch.randint(0, 2**31 - 1, (1,)))
        present = missing_mask(n, len(self.modalities), self.rate, seed)
        inputs = dict(batch.inputs)
        for j, m in enumerate(self.modalities):
            keep = present[:, j].to(inputs[m].device)
            inputs[m] = inputs[m] * keep.view(n, *([1] * (inputs[m].dim() - 1))).to(inputs[m].dtype)
        state.batch = replace(batch, inputs=inputs)


@MODULATORS.register("modality-dropout", options=ModalityDropoutOptions)
def modality_dropout(options: ModalityDropoutOptions, context: ModulatorContext) -> ModalityDropout:
    """Zero a random share of modality inputs per training step (at least one kept per sample)."""
    return ModalityDropout(options.rate, context.modalities)

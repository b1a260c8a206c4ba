"""The student (and teacher) model: one encoder per modality + a fusion head.

A teacher is the same class with a single modality, so teachers and students share one trainer.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Collection

import torch
from torch import Tensor, nn

from g2d import ops
from g2d.data.base import DatasetInfo
from g2d.encoders import build_encoder
from g2d.fusion import Fusion, build_fusion
from g2d.validation import DataError


@dataclass
class ModelOutput:
    logits: Tensor  # fused (B, C)
    modality_logits: dict[str, Tensor]  # modality -> (B, C): z_s^m
    features: dict[str, Tensor]  # modality -> (B, D): f_s^m
    _log_probs: dict[tuple[str, ...], Tensor] = field(default_factory=dict, repr=False)
    _measured: dict[tuple[str, ...], Tensor] = field(default_factory=dict, repr=False)

    def modality_log_probs(self, order: tuple[str, ...]) -> Tensor:
        """``log_softmax(z_s^m)`` stacked (M, B, C) in ``order``, fp32, made once per step: the
        per-modality distillation term (with its gradient) and SMP's measurement share it."""
        if order not in self._log_probs:
            self._log_probs[order] = ops.log_softmax(torch.stack([self.modality_logits[m] for m in order]).float())
        return self._log_probs[order]

    def share_modality_log_probs(self, order: tuple[str, ...], log_probs: Tensor) -> None:
        """Hand over ``log_softmax(z_s^m)`` (M, B, C) that a loss made without a graph of its own
        (the fused G2D terms), for the readers that need no gradient."""
        self._measured[order] = log_probs.detach()

    def measured_log_probs(self, order: tuple[str, ...]) -> Tensor:
        """``log_softmax(z_s^m)`` stacked in ``order``, without gradient (SMP's measurement): the one
        a loss handed over, else :meth:`modality_log_probs` detached."""
        shared = self._measured.get(order)
        return shared if shared is not None else self.modality_log_probs(order).detach()


class MultimodalModel(nn.Module):
    """Encoders + fusion. ``forward(inputs, active)`` runs encoders outside ``active`` without
    autograd, so no backward is spent on them and their parameters keep ``.grad = None``."""

    def __init__(self, encoders: dict[str, nn.Module], fusion: Fusion,
                 input_shapes: dict[str, tuple[int, ...]] | None = None) -> None:
        super().__init__()
        self.modalities = tuple(encoders)
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = fusion
        self.input_shapes = {m: tuple(s) for m, s in (input_shapes or {}).items()}
        self._shapes_checked = not self.input_shapes

    def encode(self, inputs: dict[str, Tensor], active: Collection[str] | None = None,
               masks: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """Features per modality. Encoders with ``uses_mask = True`` also get the modality's
        (B, T) validity mask when the batch has one."""
        features = {}
        for m in self.modalities:
            learns = active is None or m in active
            encoder = self.encoders[m]
            extra = {"mask": masks[m]} if masks and m in masks and getattr(encoder, "uses_mask", False) else {}
            with nullcontext() if learns else torch.no_grad():
                features[m] = encoder(inputs[m], **extra)
        return features

    def forward(self, inputs: dict[str, Tensor], active: Collection[str] | None = None,
                masks: dict[str, Tensor] | None = None) -> ModelOutput:
        if not self._shapes_checked:
            self.check_input_shapes(inputs)
        features = self.encode(inputs, active, masks)
        fused = self.fusion(features)
        return ModelOutput(fused.logits, fused.modality_logits, features)

    def check_input_shapes(self, inputs: dict[str, Tensor]) -> None:
        """Compare the first batch with the declared per-sample shapes; name the culprit."""
        missing = [m for m in self.modalities if m not in inputs]
        if missing:
            raise DataError(f"Batch lacks modalities {missing}; the model expects {list(self.modalities)}")
        for m, expected in self.input_shapes.items():
            got = tuple(inputs[m].shape[1:])
            if got != expected:
                raise DataError(f"Modality {m!r}: expected per-sample input shape {expected}, "
                                f"got {got} (batch shape {tuple(inputs[m].shape)})")
        self._shapes_checked = True

    def encoder_parameters(self, modality: str) -> list[nn.Parameter]:
        return list(self.encoders[modality].parameters())


def build_model(info: DatasetInfo, encoders: dict[str, dict[str, Any]], fusion: dict[str, Any],
                modalities: Collection[str] | None = None) -> MultimodalModel:
    """Build encoders (``{modality: {name, options}}``) and a fusion head for ``info``'s task.

    ``modalities`` restricts the model to a subset (a teacher is built with one modality).
    """
    names = tuple(modalities) if modalities is not None else info.modalities
    built = {m: build_encoder(encoders[m]["name"], encoders[m].get("options"), info.input_shapes[m])
             for m in names}
    dims = {m: e.out_dim for m, e in built.items()}
    head = build_fusion(fusion["name"], fusion.get("options"), dims, info.num_outputs)
    return MultimodalModel(built, head, {m: info.input_shapes[m] for m in names})

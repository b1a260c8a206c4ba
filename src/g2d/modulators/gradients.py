"""Which encoder parameters a gradient modulator touches, and in-place gradient rescaling.

Shared by OGM / OGM-GE, partial suppression and AGM. Users of the published OGM-GE code keep
asking which parameters are modulated, so it is an explicit option (``params``):

- ``all`` (default): every parameter of the modality's encoder (weights, biases, norm affines).
- ``weights``: parameters with more than one dimension — convolution *and* linear weights; biases
  and normalisation scales/shifts are left alone (what the BalanceBenchmark re-implementations do).
- ``conv``: convolution weights only (tensors with 3 or more dimensions). The official OGM-GE code
  modulates the 4-D tensors of its ResNet-18 encoders, i.e. exactly the Conv2d weights; ``conv``
  also covers Conv1d/Conv3d. An encoder without convolutions (an MLP) has nothing to modulate, so
  choosing ``conv`` for it is refused when the method is built.

A modality whose encoder did not run with autograd in this step (suppressed by SMP, frozen by
MSES) has ``.grad = None`` and is skipped: rescaling never wakes up a suppressed encoder.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor, nn

from g2d.validation import ConfigError

if TYPE_CHECKING:
    from g2d.model import MultimodalModel

ParamSelection = Literal["all", "weights", "conv"]

PARAMS_DESCRIPTION = ("encoder parameters whose gradients are modulated: all (default) | weights "
                      "(ndim > 1: conv and linear weights) | conv (conv weights only, as the official "
                      "OGM-GE code)")


def select_parameters(module: nn.Module, which: ParamSelection) -> list[nn.Parameter]:
    """The parameters of ``module`` that ``which`` names (see the module docstring)."""
    params = [p for p in module.parameters() if p.requires_grad]
    if which == "all":
        return params
    if which == "weights":
        return [p for p in params if p.ndim > 1]
    if which == "conv":
        return [p for p in params if p.ndim >= 3]
    raise ValueError(f"params: expected all, weights or conv, got {which!r}")


def encoder_parameter_sets(model: "MultimodalModel", which: ParamSelection,
                           where: str) -> dict[str, list[nn.Parameter]]:
    """``{modality: parameters}`` for every encoder; refuses a selection that is empty for one."""
    sets = {m: select_parameters(model.encoders[m], which) for m in model.modalities}
    empty = [m for m, ps in sets.items() if not ps]
    if empty:
        kinds = {m: type(model.encoders[m]).__name__ for m in empty}
        raise ConfigError(f"{where}: params={which!r} selects no parameter of the encoders {kinds}; "
                          f"use params='weights' or params='all' for encoders without convolutions")
    return sets


@torch.no_grad()
def scale_gradients_(params: list[nn.Parameter], coefficient: Tensor | float, noise: bool = False) -> None:
    """``g ← k·g`` in place; with ``noise`` (OGM-GE's generalisation enhancement) also
    ``g ← k·g + N(0, std(g))`` where the std is that of the gradient *before* scaling, per tensor,
    as in the official code. Parameters without a gradient are skipped."""
    for p in params:
        grad = p.grad
        if grad is None:
            continue
        std = grad.float().std() if noise and grad.numel() > 1 else None
        grad.mul_(coefficient)
        if std is not None:
            grad.add_(torch.randn_like(grad) * (std + 1e-8).to(grad.dtype))

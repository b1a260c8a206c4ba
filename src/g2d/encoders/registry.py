"""Encoder registry and the spec's initialisation (Kaiming conv, Xavier linear, constant norms).

A factory has the signature ``build(options, input_shape) -> nn.Module`` and the module it returns
has an ``out_dim`` attribute: the width of the feature vector it produces per sample.
"""
from __future__ import annotations

from typing import Any, Callable

from torch import nn

from g2d.registry import Registry

ENCODERS: Registry[Callable[..., nn.Module]] = Registry("encoder")


def build_encoder(name: str, options: dict[str, Any] | None, input_shape: tuple[int, ...]) -> nn.Module:
    encoder = ENCODERS.create(name, options, input_shape=tuple(input_shape))
    if not isinstance(getattr(encoder, "out_dim", None), int):
        raise TypeError(f"encoder {name!r} must set an integer attribute out_dim")
    return encoder


def init_weights(module: nn.Module) -> None:
    """Kaiming-normal conv, Xavier-normal linear, BN/LN weight 1 bias 0 (paper A.4)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

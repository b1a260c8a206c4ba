"""A multilayer perceptron for feature vectors and tables (flattens any input shape)."""
from __future__ import annotations

import math

from pydantic import Field
from torch import Tensor, nn

from g2d.encoders.registry import ENCODERS, init_weights
from g2d.registry import Options
from g2d.validation import DataError


class MLPOptions(Options):
    hidden: list[int] = Field(default_factory=lambda: [128], description="hidden layer widths")
    out_dim: int = Field(64, gt=0, description="feature width")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    norm: bool = Field(False, description="LayerNorm after each hidden layer")


class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden: list[int], out_dim: int, dropout: float = 0.0,
                 norm: bool = False, act_layer: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_dim
        for h in hidden:
            layers += [nn.Linear(width, h)] + ([nn.LayerNorm(h)] if norm else []) + [act_layer()]
            layers += [nn.Dropout(dropout)] if dropout else []
            width = h
        layers += [nn.Linear(width, out_dim), act_layer()]
        self.net = nn.Sequential(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:  # (B, *input_shape) -> (B, out_dim)
        if x.dim() < 2 or x.shape[1:].numel() != self.in_dim:
            raise DataError(f"encoder 'mlp': expected a batch of samples with {self.in_dim} values each, "
                            f"got a batch of shape {tuple(x.shape)}")
        return self.net(x)


@ENCODERS.register("mlp", options=MLPOptions)
def mlp(options: MLPOptions, input_shape: tuple[int, ...]) -> MLP:
    """MLP over the flattened input: Linear-ReLU blocks, then a Linear-ReLU feature layer."""
    return MLP(math.prod(input_shape), options.hidden, options.out_dim, options.dropout, options.norm)

"""MobileNetV2 (Sandler et al. 2018) for (C, H, W) images, with its inverted residual blocks.

Stem 3×3 conv stride 2 (32·w channels), seventeen inverted residual blocks (1×1 expansion,
3×3 depthwise, 1×1 linear bottleneck; a residual where stride is 1 and widths match), a 1×1 conv
to ``out_dim`` features (1280 by default), global average pooling. Channel counts are multiples
of 8 (``w`` = ``width``). At ``width = 1`` the encoder has 2,223,872 parameters for 3-channel
input: the standard MobileNetV2 without its 1000-class layer.
"""
from __future__ import annotations

from pydantic import Field
from torch import Tensor, nn

from g2d.encoders.registry import ENCODERS, init_weights
from g2d.registry import Options
from g2d.validation import DataError

# (expansion t, output channels c, repeats n, first stride s), as in the paper's Table 2
INVERTED_RESIDUAL_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class MobileNetOptions(Options):
    width: float = Field(1.0, gt=0, description="width multiplier of every layer")
    out_dim: int | None = Field(None, gt=0, description="features of the last 1×1 conv; "
                                "default 1280·max(1, width)")


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round to the nearest multiple of ``divisor`` (at least ``divisor``), never below 90 %."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn_act(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
                norm_layer: type[nn.Module] = nn.BatchNorm2d,
                act_layer: type[nn.Module] | None = nn.ReLU6) -> nn.Sequential:
    layers = [nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False), norm_layer(out_ch)]
    return nn.Sequential(*layers, *([act_layer(inplace=True)] if act_layer else []))


class InvertedResidual(nn.Module):
    """1×1 expand (×t), 3×3 depthwise, 1×1 project without activation; residual when shapes match."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d, act_layer: type[nn.Module] = nn.ReLU6) -> None:
        super().__init__()
        hidden = int(round(in_ch * expansion))
        layers = [conv_bn_act(in_ch, hidden, 1, norm_layer=norm_layer, act_layer=act_layer)] if expansion != 1 else []
        layers += [conv_bn_act(hidden, hidden, 3, stride, groups=hidden, norm_layer=norm_layer, act_layer=act_layer),
                   conv_bn_act(hidden, out_ch, 1, norm_layer=norm_layer, act_layer=None)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV2(nn.Module):
    """``forward`` (B, C, H, W) -> (B, out_dim)."""

    def __init__(self, input_shape: tuple[int, ...], width: float = 1.0, out_dim: int | None = None,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d, act_layer: type[nn.Module] = nn.ReLU6) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise DataError(f"encoder 'mobilenetv2' expects a per-sample image (C, H, W), got shape "
                            f"{tuple(input_shape)} ({len(input_shape)}-D)")
        self.input_shape = tuple(input_shape)
        in_ch = make_divisible(32 * width)
        layers: list[nn.Module] = [conv_bn_act(input_shape[0], in_ch, 3, 2, norm_layer=norm_layer,
                                               act_layer=act_layer)]
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            out_ch = make_divisible(c * width)
            for i in range(n):
                layers.append(InvertedResidual(in_ch, out_ch, s if i == 0 else 1, t, norm_layer, act_layer))
                in_ch = out_ch
        self.out_dim = out_dim or make_divisible(1280 * max(1.0, width))
        layers.append(conv_bn_act(in_ch, self.out_dim, 1, norm_layer=norm_layer, act_layer=act_layer))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.input_shape[0]:
            expected = ", ".join(map(str, self.input_shape))
            raise DataError(f"encoder 'mobilenetv2': expected a batch of shape (B, {expected}), got {tuple(x.shape)}")
        return self.pool(self.features(x)).flatten(1)


@ENCODERS.register("mobilenetv2", options=MobileNetOptions)
def mobilenetv2(options: MobileNetOptions, input_shape: tuple[int, ...]) -> MobileNetV2:
    """MobileNetV2 (inverted residual blocks) for (C, H, W) images."""
    return MobileNetV2(tuple(input_shape), options.width, options.out_dim)

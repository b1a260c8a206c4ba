"""ResNet-18 (He et al. 2016) for 2-D inputs of any channel count, and for clips of frames.

Per-sample input ``(C, H, W)`` (a spectrogram with C = 1, an image with C = 3), or a clip
``(T, C, H, W)``: the T frames are folded into the batch, encoded one by one and their features
mean-pooled over time (as audio-visual work encodes video). The stem is the ImageNet one
(7×7 conv stride 2, 3×3 max-pool stride 2), then four stages of two basic blocks with
64·w / 128·w / 256·w / 512·w channels (``w`` = ``width``), then global average pooling, so
``out_dim = 512·w`` and inputs as small as 1×28×28 work. At ``width = 1`` the encoder has the
standard 11,176,512 parameters for 3-channel input (ResNet-18 without its 1000-class layer).
"""
from __future__ import annotations

from pydantic import Field
from torch import Tensor, nn

from g2d.encoders.registry import ENCODERS, init_weights
from g2d.registry import Options
from g2d.validation import DataError

STAGE_WIDTHS = (64, 128, 256, 512)


class ResNetOptions(Options):
    width: float = Field(1.0, gt=0, description="multiplier of the 64/128/256/512 stage widths")


class BasicBlock(nn.Module):
    """Two 3×3 convs with a residual connection (1×1 conv shortcut when the shape changes)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d, act_layer: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = norm_layer(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = norm_layer(out_ch)
        self.act = act_layer(inplace=True)
        self.shortcut = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), norm_layer(out_ch))

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet with basic blocks; ``forward`` takes (B, C, H, W) or (B, T, C, H, W) -> (B, out_dim)."""

    def __init__(self, input_shape: tuple[int, ...], blocks: tuple[int, ...] = (2, 2, 2, 2),
                 width: float = 1.0, norm_layer: type[nn.Module] = nn.BatchNorm2d,
                 act_layer: type[nn.Module] = nn.ReLU, name: str = "resnet") -> None:
        super().__init__()
        if len(input_shape) not in (3, 4):
            raise DataError(f"encoder {name!r} expects a per-sample input (C, H, W) or a clip (T, C, H, W), "
                            f"got shape {tuple(input_shape)} ({len(input_shape)}-D); "
                            "use 'transformer' or 'mlp' for (T, F) sequences and feature vectors")
        self.name, self.input_shape = name, tuple(input_shape)
        widths = [max(1, round(c * width)) for c in STAGE_WIDTHS]
        channels = input_shape[-3]
        self.stem = nn.Sequential(nn.Conv2d(channels, widths[0], 7, 2, 3, bias=False), norm_layer(widths[0]),
                                  act_layer(inplace=True), nn.MaxPool2d(3, 2, 1))
        stages, in_ch = [], widths[0]
        for i, (n, out_ch) in enumerate(zip(blocks, widths)):
            stride = 1 if i == 0 else 2
            layers = [BasicBlock(in_ch if j == 0 else out_ch, out_ch, stride if j == 0 else 1, norm_layer,
                                 act_layer) for j in range(n)]
            stages.append(nn.Sequential(*layers))
            in_ch = out_ch
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = widths[-1]
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != len(self.input_shape) + 1 or x.shape[-3] != self.input_shape[-3]:
            expected = ", ".join(map(str, self.input_shape))
            raise DataError(f"encoder {self.name!r}: expected a batch of shape (B, {expected}), "
                            f"got {tuple(x.shape)}")
        clip = x.dim() == 5
        batch = x.shape[0]
        if clip:
            x = x.flatten(0, 1)  # (B·T, C, H, W): frames folded into the batch
        h = self.pool(self.stages(self.stem(x))).flatten(1)  # (B[·T], out_dim)
        if clip:
            h = h.unflatten(0, (batch, -1)).mean(1)  # mean over time
        return h


@ENCODERS.register("resnet18", options=ResNetOptions)
def resnet18(options: ResNetOptions, input_shape: tuple[int, ...]) -> ResNet:
    """ResNet-18 for (C, H, W) images/spectrograms or (T, C, H, W) clips (frames mean-pooled)."""
    return ResNet(tuple(input_shape), (2, 2, 2, 2), options.width, name="resnet18")

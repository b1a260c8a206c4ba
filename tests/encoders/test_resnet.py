"""ResNet-18: the standard parameter count, tiny inputs, clips pooled over time."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from g2d.encoders import build_encoder


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def expected_resnet18_parameters(channels: int) -> int:
    """Hand count: stem conv + BN, then per stage two basic blocks (3×3 convs + BNs, and in stages
    2–4 a 1×1 conv + BN shortcut in the first block)."""
    total = channels * 64 * 7 * 7 + 2 * 64
    in_ch = 64
    for out_ch in (64, 128, 256, 512):
        for block in range(2):
            c_in = in_ch if block == 0 else out_ch
            total += c_in * out_ch * 9 + out_ch * out_ch * 9 + 2 * 2 * out_ch
            if block == 0 and c_in != out_ch:
                total += c_in * out_ch + 2 * out_ch
        in_ch = out_ch
    return total


def test_width_one_has_the_standard_parameter_count() -> None:
    assert expected_resnet18_parameters(3) == 11_176_512  # torchvision's 11,689,512 minus fc (513,000)
    encoder = build_encoder("resnet18", {}, (3, 32, 32))
    assert _count(encoder) == 11_176_512
    assert encoder.out_dim == 512
    assert _count(build_encoder("resnet18", {}, (1, 112, 112))) == expected_resnet18_parameters(1) == 11_170_240


@pytest.mark.parametrize("width,out_dim", [(0.125, 64), (0.25, 128), (0.5, 256)])
def test_width_scales_every_stage(width: float, out_dim: int) -> None:
    encoder = build_encoder("resnet18", {"width": width}, (1, 28, 28))
    assert encoder.out_dim == out_dim
    convs = [m.out_channels for m in encoder.modules() if isinstance(m, nn.Conv2d)]
    assert sorted(set(convs)) == [out_dim // 8, out_dim // 4, out_dim // 2, out_dim]


def test_clip_features_are_the_mean_of_frame_features() -> None:
    torch.manual_seed(0)
    clip_encoder = build_encoder("resnet18", {"width": 0.125}, (4, 3, 16, 16)).eval()
    frame_encoder = build_encoder("resnet18", {"width": 0.125}, (3, 16, 16)).eval()
    frame_encoder.load_state_dict(clip_encoder.state_dict())
    clip = torch.randn(2, 4, 3, 16, 16)
    frames = torch.stack([frame_encoder(clip[:, t]) for t in range(4)], dim=1)  # (B, T, D)
    torch.testing.assert_close(clip_encoder(clip), frames.mean(1))


def test_batchnorm_starts_at_identity() -> None:
    encoder = build_encoder("resnet18", {"width": 0.125}, (3, 32, 32))
    bns = [m for m in encoder.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 1 + 2 * 8 + 3  # stem, two per block, three shortcuts
    for bn in bns:
        assert bn.weight.eq(1).all() and bn.bias.eq(0).all()

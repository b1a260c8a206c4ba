"""MobileNetV2: the standard parameter count and the inverted residual block."""
from __future__ import annotations

import torch

from g2d.encoders import build_encoder
from g2d.encoders.mobilenet import InvertedResidual, make_divisible


def test_width_one_has_the_standard_parameter_count() -> None:
    encoder = build_encoder("mobilenetv2", {}, (3, 64, 64))
    # the reference MobileNetV2 has 3,504,872 parameters, of which 1280·1000 + 1000 are its classifier
    assert sum(p.numel() for p in encoder.parameters()) == 3_504_872 - 1_281_000
    assert encoder.out_dim == 1280
    blocks = [m for m in encoder.modules() if isinstance(m, InvertedResidual)]
    assert len(blocks) == 17 and sum(b.residual for b in blocks) == 10


def test_make_divisible_rounds_to_multiples_of_eight() -> None:
    assert [make_divisible(v) for v in (32, 4, 12, 20, 36, 1280)] == [32, 8, 16, 24, 40, 1280]


def test_inverted_residual_adds_its_input_only_when_shapes_match() -> None:
    torch.manual_seed(0)
    same = InvertedResidual(8, 8, 1, 6).eval()
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(same(x), x + same.block(x))
    down = InvertedResidual(8, 16, 2, 6).eval()
    assert not down.residual and down(x).shape == (2, 16, 3, 3)
    hidden = [m.out_channels for m in same.block.modules() if isinstance(m, torch.nn.Conv2d)]
    assert hidden == [48, 48, 8]  # expand ×6, depthwise, project


def test_tiny_width_runs_on_mnist_sized_input() -> None:
    encoder = build_encoder("mobilenetv2", {"width": 0.25, "out_dim": 16}, (1, 28, 28))
    assert encoder(torch.randn(2, 1, 28, 28)).shape == (2, 16)

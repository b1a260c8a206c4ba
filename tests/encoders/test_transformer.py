"""Transformer for sequences: padding masks hide padded steps; mean and first-token pooling."""
from __future__ import annotations

import pytest
import torch

from g2d.config import parse_config
from g2d.encoders import build_encoder
from g2d.validation import ConfigError, DataError

OPTS = {"layers": 2, "heads": 2, "width": 16, "dropout": 0.0}


@pytest.mark.parametrize("pooling", ["mean", "first"])
def test_padded_steps_do_not_change_the_features(pooling: str) -> None:
    torch.manual_seed(0)
    encoder = build_encoder("transformer", {**OPTS, "pooling": pooling}, (7, 5)).eval()
    real = torch.randn(1, 4, 5)
    padded = torch.cat([real, 100 * torch.randn(1, 3, 5)], dim=1)  # garbage in the 3 padded steps
    mask = torch.tensor([[True] * 4 + [False] * 3])
    torch.testing.assert_close(encoder(padded, mask=mask), encoder(real), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(encoder(padded), encoder(real), atol=1e-3)  # without the mask they differ


def test_mean_pooling_averages_real_steps_and_first_pooling_uses_cls() -> None:
    mean = build_encoder("transformer", {**OPTS, "pooling": "mean"}, (6, 3))
    first = build_encoder("transformer", {**OPTS, "pooling": "first"}, (6, 3))
    assert mean.cls is None and first.cls is not None and first.cls.shape == (1, 1, 16)
    assert mean.uses_mask and first.uses_mask


def test_defaults_and_paper_size() -> None:
    small = build_encoder("transformer", {}, (10, 20))
    assert small.out_dim == 128 and len(small.layers.layers) == 2
    paper = build_encoder("transformer", {"layers": 4, "heads": 8, "width": 768}, (10, 20))
    assert paper.out_dim == 768 and len(paper.layers.layers) == 4
    assert paper.layers.layers[0].self_attn.num_heads == 8


def test_empty_sequence_and_bad_mask_are_refused() -> None:
    encoder = build_encoder("transformer", OPTS, (4, 3))
    x = torch.randn(2, 4, 3)
    with pytest.raises(DataError, match=r"rows \[1\] have no real step"):
        encoder(x, mask=torch.tensor([[True, False, False, False], [False] * 4]))
    with pytest.raises(DataError, match=r"padding mask of shape \(2, 4\).*got \(2, 3\)"):
        encoder(x, mask=torch.ones(2, 3, dtype=torch.bool))


def test_options_are_checked_at_config_load() -> None:
    with pytest.raises(ConfigError, match="model.encoders.strong.options.*width: must be divisible by heads=3"):
        parse_config({"data": {"options": {"dim": 4}},
                      "model": {"encoders": {"strong": {"name": "transformer", "options": {"heads": 3}}}}})


def test_token_ids_are_embedded_and_padding_id_zero_is_masked() -> None:
    torch.manual_seed(0)
    encoder = build_encoder("transformer", {**OPTS, "vocab_size": 10}, (6,)).eval()
    assert encoder.project is None and encoder.embed.num_embeddings == 10
    short = torch.tensor([[3, 4, 5, 0, 0, 0]])
    assert encoder(short).shape == (1, 16)
    longer = torch.tensor([[3, 4, 5, 6, 0, 0]])
    assert not torch.allclose(encoder(short), encoder(longer), atol=1e-4)  # the 4th token counts once real
    masked = encoder(longer, mask=torch.tensor([[True, True, True, False, False, False]]))
    torch.testing.assert_close(masked, encoder(short), atol=1e-5, rtol=1e-5)  # a given mask hides it again


def test_token_ids_out_of_range_or_all_padding_are_refused() -> None:
    encoder = build_encoder("transformer", {**OPTS, "vocab_size": 10}, (4,))
    with pytest.raises(DataError, match=r"token ids must lie in \[0, 10\).*got \[0, 12\]"):
        encoder(torch.tensor([[1, 12, 0, 0]]))
    with pytest.raises(DataError, match=r"rows \[1\] have no real step"):
        encoder(torch.tensor([[1, 2, 0, 0], [0, 0, 0, 0]]))
    with pytest.raises(DataError, match=r"per-sample row of token ids \(T,\), got shape \(4, 3\)"):
        build_encoder("transformer", {**OPTS, "vocab_size": 10}, (4, 3))

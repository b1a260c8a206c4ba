"""Accumulators over uneven batches give exactly the whole-split numbers (no mean of means)."""
from __future__ import annotations

import math

import pytest
import torch

from g2d.metrics import (ConfidenceRatio, FeatureAlignment, ModalityGap, confidence_ratio, feature_alignment,
                         modality_gap)

MODS = ("a", "b")


def _batches(n: int, sizes: list[int]):
    start = 0
    for s in sizes:
        yield slice(start, start + s)
        start += s
    assert start == n


def test_alignment_and_ratio_accumulate_over_uneven_batches():
    gen = torch.Generator().manual_seed(0)
    fs = {m: torch.randn(7, 3, generator=gen) for m in MODS}
    ft = {m: torch.randn(7, 3, generator=gen) for m in MODS}
    zs = {m: torch.randn(7, 4, generator=gen) for m in MODS}
    zt = {m: torch.randn(7, 4, generator=gen) for m in MODS}
    y = torch.randint(0, 4, (7,), generator=gen)
    align, ratio = FeatureAlignment(MODS), ConfidenceRatio(MODS)
    for b in _batches(7, [1, 5, 1]):  # a mean of batch means would weigh the single samples 5×
        align.update({m: fs[m][b] for m in MODS}, {m: ft[m][b] for m in MODS})
        ratio.update({m: zs[m][b] for m in MODS}, {m: zt[m][b] for m in MODS}, y[b])
    for m in MODS:
        assert align.compute()[m] == pytest.approx(feature_alignment(fs[m], ft[m]))
        assert ratio.compute()["ratio"][m] == pytest.approx(confidence_ratio(zs[m], zt[m], y))
    align.reset()
    assert math.isnan(align.compute()["a"])


def test_modality_gap_pairs_and_projection():
    emb = {"a": torch.tensor([[1.0, 0.0], [1.0, 0.0]]), "b": torch.tensor([[0.0, 2.0]]),
           "c": torch.tensor([[-3.0, 0.0]])}
    gap = ModalityGap(("a", "b", "c"), keep=1)
    gap.update({m: x[:1] for m, x in emb.items()})
    gap.update({"a": emb["a"][1:], "b": emb["b"][:0], "c": emb["c"][:0]})
    result = gap.compute()
    assert result["pairs"] == pytest.approx({"a|b": math.sqrt(2), "a|c": 2.0, "b|c": math.sqrt(2)})
    assert result["distance"] == pytest.approx((2 * math.sqrt(2) + 2) / 3)
    assert result["pairs"]["a|b"] == pytest.approx(modality_gap(emb["a"], emb["b"]))
    proj = gap.projection()
    assert {m: len(p) for m, p in proj["points"].items()} == {"a": 1, "b": 1, "c": 1}  # keep=1 each
    assert sum(proj["explained"]) == pytest.approx(1.0)


def test_modality_gap_needs_two_modalities():
    with pytest.raises(ValueError, match="at least 2 modalities"):
        ModalityGap(("a",))

"""DLMG: a decreasing weight moves training from modality matching to label fitting; the matching
loss pulls the modalities' representations of a sample together (closes the modality gap)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from g2d.methods import MethodContext, build_method
from g2d.methods.dlmg import heuristic_alpha, info_nce, matching_loss
from g2d.model import build_model
from g2d.objectives import task_loss
from g2d.validation import ConfigError
from tests.methods.tiny import tiny, tiny_splits


def test_heuristic_weight_decreases_from_one_minus_one_over_e() -> None:
    alphas = [heuristic_alpha(e) for e in range(50)]
    assert alphas[0] == pytest.approx(1 - math.exp(-1))
    assert all(a > b for a, b in zip(alphas, alphas[1:])) and alphas[-1] < 0.03


def test_matching_loss_prefers_paired_rows() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(16, 8, generator=gen)
    aligned = info_nce(a, a + 0.05 * torch.randn(16, 8, generator=gen), 0.1)
    shuffled = info_nce(a, a[torch.randperm(16, generator=gen)], 0.1)
    assert float(aligned) < 0.1 and float(shuffled) > 1.0
    three = {"x": a, "y": a.flip(0), "z": a}
    pairs = [info_nce(three[a], three[b], 0.1) for a, b in (("x", "y"), ("x", "z"), ("y", "z"))]
    torch.testing.assert_close(matching_loss(three, 0.1), torch.stack(pairs).mean())


def test_terms_follow_the_schedule() -> None:
    built = tiny("dlmg", {"temperature": 0.2})
    batch = built.batch()
    with torch.no_grad():
        out = built.model(batch.inputs)
    ce = float(task_loss(out.logits, batch.target, "classification"))
    match = float(matching_loss(out.features, 0.2))
    state, terms = built.step(epoch=0, batch=batch)
    a = heuristic_alpha(0)
    assert float(terms["task"].detach()) == pytest.approx((1 - a) * ce, rel=1e-5)
    assert float(terms["match"].detach()) == pytest.approx(a * match, rel=1e-5)
    assert built.method.alpha == pytest.approx(a)
    built.step(epoch=3, batch=batch)
    assert built.method.alpha == pytest.approx(heuristic_alpha(3)) and heuristic_alpha(3) < a


def test_matching_closes_the_modality_gap() -> None:
    built = tiny("dlmg", {"strategy": "constant", "alpha": 1.0})

    def paired_cosine_and_gap() -> tuple[float, float]:
        batch = built.splits.train.get_batch(list(range(len(built.splits.train))))
        with torch.no_grad():
            f = built.model.encode(batch.inputs)
        s, w = F.normalize(f["strong"], dim=-1), F.normalize(f["weak"], dim=-1)
        return float((s * w).sum(-1).mean()), float((s.mean(0) - w.mean(0)).norm())

    cos0, gap0 = paired_cosine_and_gap()
    for step in range(40):
        built.step(epoch=0, step=step, batch=built.batch((16 * step) % 48))
    cos1, gap1 = paired_cosine_and_gap()
    assert cos1 > cos0 + 0.2 and gap1 < 0.5 * gap0


def test_embedding_space_follows_the_encoder_widths() -> None:
    splits = tiny_splits()
    encoders = {"strong": {"name": "mlp", "options": {"hidden": [8], "out_dim": 6}},
                "weak": {"name": "mlp", "options": {"hidden": [8], "out_dim": 5}}}
    model = build_model(splits.info, encoders, {"name": "concat", "options": {}})
    context = MethodContext(splits.info.modalities, "classification", 4, model, splits.train)
    assert build_method("dlmg", {}, context).space == "logits"
    with pytest.raises(ConfigError, match="space=features .* needs equal feature widths"):
        build_method("dlmg", {"space": "features"}, context)
    assert tiny("dlmg").method.space == "features"

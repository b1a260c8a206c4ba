"""Gradient-Blending: L = Σ_k w_k L_k over the fused head and each z_s^m; w_k ∝ G_k / O_k² re-estimated
every super-epoch from each head's train and val losses."""
from __future__ import annotations

import pytest
import torch

from g2d.methods.gblend import blending_weights
from tests.methods.tiny import tiny


def test_weights_follow_generalisation_over_squared_overfitting() -> None:
    before = {"fused": (1.0, 1.2), "a": (1.0, 1.1), "b": (1.0, 1.3)}
    now = {"fused": (0.5, 0.9), "a": (0.9, 1.15), "b": (0.6, 1.0)}
    # G: fused 0.3, a -0.05 (val rose: weight 0), b 0.3; O: fused 0.4-0.2=0.2, b 0.4-0.3=0.1
    raw = {"fused": 0.3 / 0.2 ** 2, "a": 0.0, "b": 0.3 / 0.1 ** 2}
    expected = {k: v / sum(raw.values()) for k, v in raw.items()}
    assert blending_weights(before, now) == pytest.approx(expected)
    assert blending_weights(before, {k: (t, v + 1) for k, (t, v) in before.items()}) is None  # nobody generalised


def test_loss_is_the_weighted_sum_of_the_heads_and_weights_update_each_super_epoch() -> None:
    built = tiny("gblend", {"super_epoch": 2}, modalities=3)
    state, terms = built.step()
    out, y = state.output, state.batch.target
    assert set(terms) == {"fused", "strong", "weak1", "weak2"}
    torch.testing.assert_close(terms["fused"], 0.25 * torch.nn.functional.cross_entropy(out.logits, y))
    torch.testing.assert_close(terms["weak1"], 0.25 * torch.nn.functional.cross_entropy(out.modality_logits["weak1"], y))
    method = built.method
    val = lambda f, s, w1, w2: {"loss": f, "modality_loss": {"strong": s, "weak1": w1, "weak2": w2}}  # noqa: E731
    method.on_epoch_end(0, val(1.0, 1.0, 1.0, 1.0))  # the first mark
    built.step(epoch=1)
    method.on_epoch_end(1, val(0.9, 1.2, 0.5, 0.95))
    assert len(method.history) == 1 and sum(method.weights.values()) == pytest.approx(1.0)
    assert method.weights["strong"] == 0.0 and max(method.weights, key=method.weights.get) != "strong"
    fresh = tiny("gblend", {"super_epoch": 2}, modalities=3)
    fresh.method.load_state_dict(method.state_dict())
    assert fresh.method.weights == method.weights

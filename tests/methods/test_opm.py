"""OPM: the dominant modality (score ratio > 1) is dropped per sample with q = q_base(1 + λ tanh(ρ − 1)),
kept features are rescaled by 1/(1 − θ), and a fully dropped modality's encoder gets no gradient."""
from __future__ import annotations

import math

import pytest
import torch

from g2d.methods.opm import drop_features, drop_probabilities
from g2d.modulators.ogm import student_scores
from tests.methods.tiny import tiny


def test_only_the_dominant_modality_gets_a_drop_probability() -> None:
    q = drop_probabilities({"a": torch.tensor(6.0), "b": torch.tensor(2.0), "c": torch.tensor(2.0)}, 0.5, 1.0)
    assert float(q["a"]) == pytest.approx(0.5 * (1 + math.tanh(6.0 / 2.0 - 1)))  # ρ_a = 6 / mean(2, 2)
    assert float(q["b"]) == 0.0 and float(q["c"]) == 0.0  # ρ_b = 2 / mean(6, 2) = 0.5
    assert float(drop_probabilities({"a": torch.tensor(90.0), "b": torch.tensor(1.0)}, 0.9, 5.0)["a"]) == 1.0


def test_dropped_features_are_zero_and_kept_ones_rescaled() -> None:
    torch.manual_seed(0)
    features = {"a": torch.randn(6, 3), "b": torch.randn(6, 5)}
    out, kept = drop_features(features, {"a": torch.tensor(1.0), "b": torch.tensor(0.0)})
    assert torch.equal(out["a"], torch.zeros(6, 3))
    torch.testing.assert_close(out["b"], features["b"] / (1 - 3 / 8))  # θ = (3·1 + 5·0) / 8
    assert kept.tolist() == [True] * 6
    out, kept = drop_features(features, {"a": torch.tensor(1.0), "b": torch.tensor(1.0)})
    assert kept.tolist() == [False] * 6  # these samples leave the loss


def test_a_fully_dropped_dominant_encoder_does_not_move() -> None:
    built = tiny("opm", {"q_base": 1.0, "lam": 0.0, "p_exe": 1.0}, momentum=0.0, weight_decay=0.0)
    state = built.state()
    with torch.no_grad():
        state.output = built.model(state.batch.inputs)
    scores = student_scores(state)
    dominant = max(scores, key=lambda m: float(scores[m]))
    other = next(m for m in scores if m != dominant)
    before = built.snapshot()
    built.step(batch=state.batch)
    after = built.snapshot()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(f"encoders.{dominant}."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(f"encoders.{other}."))
    joint = tiny("joint", momentum=0.0, weight_decay=0.0)
    joint.step(batch=state.batch)  # joint training moves the dominant encoder
    assert any(not torch.equal(before[k], joint.snapshot()[k]) for k in before if k.startswith(f"encoders.{dominant}."))

"""MLA: one encoder per optimiser step through the shared head, OWM gradient modification,
entropy-weighted fusion at test time."""
from __future__ import annotations

import io
import math

import pytest
import torch

from g2d.validation import ConfigError
from tests.conftest import tiny_config
from tests.methods.tiny import tiny


def changed(before: dict, after: dict, prefix: str) -> bool:
    return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))


def test_each_turn_updates_exactly_one_encoder_and_the_shared_head() -> None:
    built = tiny("mla", fusion="shared", modalities=3)
    state = built.state()
    for m in built.model.modalities:
        before = built.snapshot()
        loss, logits = built.method.modality_step(built.runner, state, m)
        after = built.snapshot()
        assert changed(before, after, f"encoders.{m}.")
        assert all(not changed(before, after, f"encoders.{k}.") for k in built.model.modalities if k != m)
        assert changed(before, after, "fusion.classifier.")
        assert state.active == frozenset({m}) and logits.shape == (16, 4) and math.isfinite(float(loss))
        assert all(p.grad is None for p in built.model.parameters())


def test_training_step_gives_every_modality_one_turn() -> None:
    built = tiny("mla", fusion="shared")
    before = built.snapshot()
    state, terms = built.step()
    assert set(terms) == {"task_strong", "task_weak"}
    assert state.active == frozenset({"strong", "weak"})
    after = built.snapshot()
    assert changed(before, after, "encoders.strong.") and changed(before, after, "encoders.weak.")


def test_gradient_modification_keeps_the_head_response_to_the_earlier_turn() -> None:
    def response_change(modify: bool) -> float:
        built = tiny("mla", {"gradient_modification": modify}, fusion="shared", momentum=0.0, weight_decay=0.0)
        state = built.state()
        built.method.modality_step(built.runner, state, "strong")
        with torch.no_grad():
            r = built.model.fusion.embed("strong", built.model.encoders["strong"](state.batch.inputs["strong"])).mean(0)
        weight = built.model.fusion.classifier.weight.detach().clone()
        built.method.modality_step(built.runner, state, "weak")
        delta = built.model.fusion.classifier.weight.detach() - weight
        return float((delta @ r).norm() / (delta.norm() * r.norm()))

    # the classifier moves almost orthogonally to the strong modality's mean input of its last turn
    assert response_change(True) < 0.05
    assert response_change(False) > 0.2


def test_projector_absorbs_each_turns_mean_input() -> None:
    built = tiny("mla", {"alpha": 0.1}, fusion="shared")
    built.method.modality_step(built.runner, built.state(), "strong")
    r = built.method.last_input
    P = built.method.projector
    width = r.numel()
    torch.testing.assert_close(P.norm(), torch.tensor(math.sqrt(width)))
    # I − r rᵀ / (α + rᵀ r), rescaled: r itself is shrunk by α / (α + ‖r‖²)
    k = r / (0.1 + r @ r)
    expected = torch.eye(width) - torch.outer(r, r) / (0.1 + r @ r)
    expected = expected * math.sqrt(width) / expected.norm()
    torch.testing.assert_close(P, expected)
    assert float((P @ r).norm()) < 0.1 * float(r.norm()) and k.numel() == width


def test_entropy_weighted_fusion_at_test_time_only() -> None:
    built = tiny("mla", fusion="shared")
    model, batch = built.model, built.batch()
    model.train()
    train_out = model(batch.inputs)
    z_train = train_out.modality_logits
    torch.testing.assert_close(train_out.logits, (z_train["strong"] + z_train["weak"]) / 2)
    model.eval()
    with torch.no_grad():
        out = model(batch.inputs)
    z = out.modality_logits
    h = {m: -(torch.softmax(v, -1) * torch.log_softmax(v, -1)).sum(-1) for m, v in z.items()}
    hmax = torch.maximum(h["strong"], h["weak"])
    w = {m: torch.exp(hmax - h[m]) for m in z}
    total = w["strong"] + w["weak"]
    expected = (w["strong"] / total)[:, None] * z["strong"] + (w["weak"] / total)[:, None] * z["weak"]
    torch.testing.assert_close(out.logits, expected)
    confident = {"strong": torch.tensor([[8.0, 0, 0, 0]]), "weak": torch.tensor([[0.0, 0, 0, 0]])}
    weights = built.method.fusion_weights(confident)
    assert float(weights[0, 0]) > 0.75 and float(weights.sum()) == pytest.approx(1.0)


def test_projector_round_trips_and_regression_is_refused() -> None:
    built = tiny("mla", fusion="shared")
    built.step()
    buffer = io.BytesIO()
    torch.save(built.method.state_dict(), buffer)
    buffer.seek(0)
    fresh = tiny("mla", fusion="shared")
    fresh.method.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(fresh.method.projector, built.method.projector)
    with pytest.raises(ConfigError, match="MLA's test-time fusion"):
        tiny_config(data__options={"task_type": "regression", "num_train": 64, "num_val": 16, "num_test": 16},
                    method={"name": "mla"})


def test_other_fusions_train_alternately_without_the_modification() -> None:
    with pytest.warns(UserWarning, match="no classifier shared"):
        built = tiny("mla", fusion="concat")
    assert not built.method.modifies_gradients
    before = built.snapshot()
    built.method.modality_step(built.runner, built.state(), "weak")
    after = built.snapshot()
    assert changed(before, after, "encoders.weak.") and not changed(before, after, "encoders.strong.")

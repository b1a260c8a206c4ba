"""AGM: Shapley mono-modal responses, the ratio/target coefficients and their effect on gradients."""
from __future__ import annotations

import io
import math

import pytest
import torch

from g2d.fusion import build_fusion
from g2d.modulators.agm import mono_modal_scores, relative_ratios, shapley_responses
from g2d.objectives import task_loss
from tests.methods.tiny import tiny


def features(dims: dict[str, int], batch: int = 5) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {m: torch.randn(batch, d) for m, d in dims.items()}


def test_shapley_of_an_additive_head_is_each_modalitys_own_term() -> None:
    dims = {"a": 3, "b": 4, "c": 2}
    fusion = build_fusion("sum", {}, dims, 6)
    f = features(dims)
    phi = shapley_responses(fusion, f)
    for m in dims:  # v(S) = Σ_k b_k + Σ_{m∈S} W_m f_m, so φ^m = W_m f_m
        head = fusion.heads[m]
        torch.testing.assert_close(phi[m], f[m] @ head.weight.T)


@pytest.mark.parametrize("name", ["concat", "late", "sum"])
def test_shapley_responses_add_up_to_full_minus_empty(name: str) -> None:
    dims = {"a": 3, "b": 4, "c": 2}
    fusion = build_fusion(name, {}, dims, 6)
    f = features(dims)
    phi = shapley_responses(fusion, f)
    full = fusion(f).logits
    empty = fusion({m: torch.zeros_like(x) for m, x in f.items()}).logits
    torch.testing.assert_close(sum(phi.values()), full - empty, rtol=1e-5, atol=1e-6)
    assert fusion.training, "the head's train/eval mode is restored"


def test_ratios_generalise_the_two_modality_rule() -> None:
    two = relative_ratios({"a": torch.tensor(0.5), "b": torch.tensor(1.5)})
    assert float(two["a"]) == pytest.approx(math.exp(1.0)) and float(two["b"]) == pytest.approx(math.exp(-1.0))
    three = relative_ratios({"a": torch.tensor(0.3), "b": torch.tensor(0.6), "c": torch.tensor(1.2)})
    # exp(M/(M-1)·(mean − s^m)), the official code's form
    mean = 0.7
    assert float(three["a"]) == pytest.approx(math.exp(1.5 * (mean - 0.3)))


def test_mono_modal_scores_are_clamped_cross_entropy() -> None:
    z = {"a": torch.tensor([[10.0, -10.0], [0.0, 0.0]])}
    target = torch.tensor([1, 0])
    score = float(mono_modal_scores(z, target, "classification")["a"])
    p_wrong = torch.softmax(torch.tensor([10.0, -10.0]), 0)[1]
    assert score == pytest.approx((-math.log(max(float(p_wrong), 1e-8)) + math.log(2)) / 2, rel=1e-5)


def test_agm_scales_each_encoder_by_its_coefficient_and_tracks_running_scores() -> None:
    built = tiny("agm", {"alpha": 0.3}, modalities=3)
    (modulator,) = built.method.modulators
    state = built.state()
    state.output = built.model(state.batch.inputs)
    task_loss(state.output.logits, state.batch.target, state.task).backward()
    grads = {n: p.grad.clone() for n, p in built.model.named_parameters()}
    feats = {m: f.detach() for m, f in state.output.features.items()}
    scores = mono_modal_scores(shapley_responses(built.model.fusion, feats), state.batch.target, state.task)
    ratios = relative_ratios(scores)
    modulator.on_before_optimizer_step(state, built.runner.optimizer)
    for m in built.model.modalities:
        k = math.exp(0.3 * (1.0 - float(ratios[m])))  # first step: running means are 0, so η = 1
        for name, p in built.model.encoders[m].named_parameters():
            torch.testing.assert_close(p.grad, grads[f"encoders.{m}.{name}"] * k, rtol=1e-5, atol=0)
    assert all(torch.equal(p.grad, grads[f"fusion.{n}"]) for n, p in built.model.fusion.named_parameters())
    assert modulator.count == 1
    running = {m: float(v) for m, v in modulator.running.items()}
    assert running == pytest.approx({m: float(s) for m, s in scores.items()})
    buffer = io.BytesIO()
    torch.save(modulator.state_dict(), buffer)
    buffer.seek(0)
    fresh = tiny("agm", {"alpha": 0.3}, modalities=3).method.modulators[0]
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh.count == 1 and torch.equal(fresh.running["strong"], modulator.running["strong"])

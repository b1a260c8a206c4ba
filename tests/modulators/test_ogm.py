"""OGM / OGM-GE: the dominant encoder's gradient is scaled by exactly 1 − tanh(α·ratio) (paper
Eq. 10, official code) when ratio > 1, and -GE adds noise with the gradient's own std."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from g2d.modulators.gradients import scale_gradients_, select_parameters
from g2d.modulators.ogm import discrepancy_ratios, modulation_coefficient
from g2d.objectives import task_loss
from g2d.validation import ConfigError
from tests.conftest import tiny_config
from tests.methods.tiny import tiny


def backward(built, epoch: int = 0):
    """Forward + backward of the task loss; returns the state and a copy of every gradient."""
    state = built.state(epoch=epoch)
    state.output = built.model(state.batch.inputs)
    task_loss(state.output.logits, state.batch.target, state.task).backward()
    grads = {n: p.grad.clone() for n, p in built.model.named_parameters()}
    return state, grads


def official_ratio(state, m: str, other: str) -> float:
    """score = Σ_batch softmax(z_s^m)[y] (the official code's score_v / score_a)."""
    y = state.batch.target
    score = lambda z: float(torch.softmax(z.detach(), -1)[torch.arange(len(y)), y].sum())  # noqa: E731
    return score(state.output.modality_logits[m]) / score(state.output.modality_logits[other])


def test_ratio_is_to_the_others_not_to_the_sum() -> None:
    scores = {"a": torch.tensor(6.0), "b": torch.tensor(3.0), "c": torch.tensor(2.0)}
    mean = discrepancy_ratios(scores, "mean")
    assert float(mean["a"]) == pytest.approx(6 / 2.5) and float(mean["c"]) == pytest.approx(2 / 4.5)
    assert float(discrepancy_ratios(scores, "max")["b"]) == pytest.approx(3 / 6)
    assert float(discrepancy_ratios(scores, "min")["b"]) == pytest.approx(3 / 2)
    two = discrepancy_ratios({"a": torch.tensor(6.0), "b": torch.tensor(3.0)}, "mean")
    assert float(two["a"]) == 2.0 and float(two["b"]) == 0.5  # M = 2: all references are the other


def test_coefficient_formulas() -> None:
    ratio = torch.tensor([0.5, 1.0, 1.5, 3.0], dtype=torch.float64)
    paper = modulation_coefficient(ratio, 0.8, "paper")
    assert paper.tolist() == pytest.approx([1.0, 1.0, 1 - math.tanh(1.2), 1 - math.tanh(2.4)], rel=1e-5)
    shifted = modulation_coefficient(ratio, 0.8, "shifted")
    assert shifted.tolist() == pytest.approx([1.0, 1.0, 1 - math.tanh(0.4), 1 - math.tanh(1.6)], rel=1e-5)


def test_ogm_scales_exactly_the_dominant_encoder() -> None:
    built = tiny("ogm", {"alpha": 0.5})
    state, grads = backward(built)
    (modulator,) = built.method.modulators
    r_strong = official_ratio(state, "strong", "weak")
    dominant, other = ("strong", "weak") if r_strong > 1 else ("weak", "strong")
    ratio = max(r_strong, 1 / r_strong)
    assert ratio > 1
    coefficients = modulator.coefficients(state)
    modulator.on_before_optimizer_step(state, built.runner.optimizer)
    k = 1 - math.tanh(0.5 * ratio)
    for name, p in built.model.named_parameters():
        if name.startswith(f"encoders.{dominant}."):
            torch.testing.assert_close(p.grad, grads[name] * k, rtol=1e-6, atol=0)
        else:  # the other encoder and the fusion head are untouched
            assert torch.equal(p.grad, grads[name]), name
    assert float(coefficients[dominant]) == pytest.approx(k, rel=1e-6)
    assert float(coefficients[other]) == 1.0


def test_ogm_ge_adds_noise_with_the_gradients_own_std() -> None:
    built = tiny("ogm-ge", {"alpha": 0.5}, hidden=512, dim=32)
    state, grads = backward(built)
    r_strong = official_ratio(state, "strong", "weak")
    k = {"strong": 1 - math.tanh(0.5 * r_strong) if r_strong > 1 else 1.0,
         "weak": 1 - math.tanh(0.5 / r_strong) if r_strong < 1 else 1.0}
    torch.manual_seed(0)
    built.method.modulators[0].on_before_optimizer_step(state, built.runner.optimizer)
    for m in ("strong", "weak"):  # both modalities get noise, also the one with k = 1
        name = f"encoders.{m}.net.1.weight"  # 512 × 32 weights
        original = grads[name]
        noise = built.model.get_parameter(name).grad - k[m] * original
        assert noise.abs().sum() > 0
        assert float(noise.std()) == pytest.approx(float(original.std()), rel=0.08)
        assert abs(float(noise.mean())) < 0.1 * float(original.std())
    head = "fusion.head.weight"
    assert torch.equal(built.model.get_parameter(head).grad, grads[head])


def test_outside_the_window_nothing_changes_and_suppressed_encoders_stay_none() -> None:
    built = tiny("ogm-ge", {"start_epoch": 1, "end_epoch": 2})
    state, grads = backward(built, epoch=2)
    built.method.modulators[0].on_before_optimizer_step(state, built.runner.optimizer)
    assert all(torch.equal(p.grad, grads[n]) for n, p in built.model.named_parameters())
    for p in built.model.encoders["weak"].parameters():
        p.grad = None
    state.epoch = 1
    built.method.modulators[0].on_before_optimizer_step(state, built.runner.optimizer)
    assert all(p.grad is None for p in built.model.encoders["weak"].parameters())


def test_parameter_selection() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    assert select_parameters(net, "conv") == [net[0].weight]
    assert select_parameters(net, "weights") == [net[0].weight, net[3].weight]
    assert len(select_parameters(net, "all")) == 6
    built = tiny("ogm", {"params": "weights"})
    state, grads = backward(built)
    built.method.modulators[0].on_before_optimizer_step(state, built.runner.optimizer)
    for name, p in built.model.named_parameters():
        if name.endswith("bias"):
            assert torch.equal(p.grad, grads[name]), "params=weights leaves biases alone"


def test_conv_selection_on_an_mlp_is_refused() -> None:
    with pytest.raises(ConfigError, match="params='conv' selects no parameter"):
        tiny("ogm-ge", {"params": "conv"})


def test_window_is_checked_at_config_load() -> None:
    with pytest.raises(ConfigError, match="end_epoch: expected > start_epoch"):
        tiny_config(method={"name": "ogm", "options": {"start_epoch": 1, "end_epoch": 1}})
    with pytest.raises(ConfigError, match="start_epoch: 5 is not before student.epochs = 2"):
        tiny_config(method={"name": "ogm-ge", "options": {"start_epoch": 5}})


def test_scale_gradients_handles_single_element_tensors() -> None:
    p = nn.Parameter(torch.ones(1))
    p.grad = torch.full((1,), 2.0)
    scale_gradients_([p], torch.tensor(0.5), noise=True)
    assert torch.isfinite(p.grad).all()

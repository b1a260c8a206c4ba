"""Partial suppression (g2d-partial): OGM-GE's rule on the *teachers'* confidences, over SMP's window."""
from __future__ import annotations

import math

import pytest
import torch

from g2d.objectives import task_loss
from tests.conftest import tiny_config
from tests.methods.tiny import tiny


def backward(built, epoch: int):
    state = built.state(epoch=epoch)
    state.output = built.model(state.batch.inputs)
    task_loss(state.output.logits, state.batch.target, state.task).backward()
    return state, {n: p.grad.clone() for n, p in built.model.named_parameters()}


def test_dominant_by_teacher_confidence_is_scaled_in_the_smp_window() -> None:
    # the strong teacher is made confident, so ρ_strong > ρ_weak on every batch
    built = tiny("g2d-partial", {"strength": 0.7, "phases": [2]}, epochs=4, teacher_bias={"strong": 4.0})
    assert built.method.needs_teachers
    (modulator,) = built.method.modulators
    state, grads = backward(built, epoch=1)
    rho = state.confidence
    ratio = float(rho["strong"]) / float(rho["weak"])
    assert ratio > 1
    modulator.on_before_optimizer_step(state, built.runner.optimizer)
    k = 1 - math.tanh(0.7 * ratio)
    for name, p in built.model.named_parameters():
        expected = grads[name] * k if name.startswith("encoders.strong.") else grads[name]
        torch.testing.assert_close(p.grad, expected, rtol=1e-6, atol=0)
    built.model.zero_grad(set_to_none=True)
    state, grads = backward(built, epoch=2)  # the joint phase: no suppression
    modulator.on_before_optimizer_step(state, built.runner.optimizer)
    assert all(torch.equal(p.grad, grads[n]) for n, p in built.model.named_parameters())


def test_partial_composes_and_checks_phases_like_smp() -> None:
    config = tiny_config(method={"name": "joint", "modulators": [{"name": "partial", "options": {}}]})
    assert config.method.modulators[0].options["phases"] is None
    with pytest.raises(Exception, match="phases: expected 1 values"):
        tiny_config(method={"name": "g2d-partial", "options": {"phases": [1, 1]}})

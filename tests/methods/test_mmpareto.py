"""MMPareto: the encoder gradient never conflicts with the multimodal or the unimodal objective."""
from __future__ import annotations

import pytest
import torch

from g2d.methods.mmpareto import combine, flat_grads, pareto_weights
from g2d.objectives import task_loss
from tests.methods.tiny import tiny


def test_combined_gradient_has_non_negative_inner_products() -> None:
    gen = torch.Generator().manual_seed(0)
    conflicts = 0
    for _ in range(200):
        g_mm, g_m = torch.randn(6, generator=gen), torch.randn(6, generator=gen)
        conflicts += int(torch.dot(g_mm, g_m) < 0)
        d = combine(g_mm, g_m, scale=1.5)
        assert float(d @ g_mm) >= -1e-6 and float(d @ g_m) >= -1e-6
    assert conflicts > 50  # the conflicting case was exercised


def test_conflict_gives_the_min_norm_point_and_agreement_equal_weights() -> None:
    g_mm, g_m = torch.tensor([1.0, 0.0]), torch.tensor([-0.5, 1.0])
    w_mm, w_m = pareto_weights(g_mm, g_m)
    grid = torch.linspace(0, 1, 10001)
    norms = torch.stack([(t * g_mm + (1 - t) * g_m).norm() for t in grid])
    assert float(w_mm) == pytest.approx(float(grid[norms.argmin()]), abs=1e-3)
    assert float(w_mm + w_m) == pytest.approx(1.0)
    agree = pareto_weights(torch.tensor([1.0, 0.2]), torch.tensor([0.5, 1.0]))
    assert [float(w) for w in agree] == [0.5, 0.5]


def test_magnitude_rule_never_shorter_than_the_plain_sum() -> None:
    g_mm, g_m = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 0.1])  # strong conflict: tiny min-norm point
    d = combine(g_mm, g_m, scale=1.0)
    assert float(d.norm()) == pytest.approx(float((g_mm + g_m).norm()), rel=1e-5)
    same = torch.tensor([0.3, -0.4])
    torch.testing.assert_close(combine(same, same, scale=1.5), 1.5 * 2 * same)


def test_step_writes_the_combined_gradient_on_each_encoder_and_the_sum_on_the_head() -> None:
    lr = 0.05
    built = tiny("mmpareto", {"scale": 1.0}, modalities=3, momentum=0.0, weight_decay=0.0, lr=lr)
    model, state = built.model, built.state()
    out = model(state.batch.inputs)
    y = state.batch.target
    l_mm = task_loss(out.logits, y, "classification")
    expected, objectives = {}, {}
    for m in model.modalities:
        params = model.encoder_parameters(m)
        l_m = task_loss(out.modality_logits[m], y, "classification")
        g_mm, g_m = flat_grads(l_mm, params), flat_grads(l_m, params)
        expected[m], objectives[m] = combine(g_mm, g_m, 1.0), (g_mm, g_m)
    total = l_mm + sum(task_loss(out.modality_logits[m], y, "classification") for m in model.modalities)
    head = torch.autograd.grad(total, list(model.fusion.parameters()))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _, terms = built.step(batch=state.batch)
    assert set(terms) == {"task", "task_strong", "task_weak1", "task_weak2"}
    for m in model.modalities:
        applied = torch.cat([(before[n] - p.detach()).reshape(-1) / lr for n, p in model.named_parameters()
                             if n.startswith(f"encoders.{m}.")])
        torch.testing.assert_close(applied, expected[m], rtol=1e-4, atol=1e-6)
        g_mm, g_m = objectives[m]
        assert float(applied @ g_mm) >= 0 and float(applied @ g_m) >= 0
    for (n, p), g in zip(model.fusion.named_parameters(), head):
        torch.testing.assert_close((before[f"fusion.{n}"] - p.detach()) / lr, g, rtol=1e-4, atol=1e-6)

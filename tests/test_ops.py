"""g2d.ops: the fast-path (padded) log-softmax gives F.log_softmax and F.kl_div their numbers and gradients."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from g2d import ops


@pytest.mark.parametrize("shape", [(700, 3), (3, 200, 10), (40, 10), (1200, 2), (64, 16), (512, 33)])
def test_log_softmax_matches_torch_with_its_gradient(shape):
    gen = torch.Generator().manual_seed(0)
    z = (3 * torch.randn(*shape, generator=gen)).requires_grad_()
    weights = torch.randn(*shape, generator=gen)
    ours = ops.log_softmax(z)
    (ours * weights).sum().backward()
    ours_grad, z.grad = z.grad.clone(), None
    ref = F.log_softmax(z, -1)
    (ref * weights).sum().backward()
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(ours_grad, z.grad, rtol=0, atol=1e-5)


def test_true_label_log_probability_scores_stacked_modalities_against_one_target():
    z = torch.randn(3, 700, 6, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 6, (700,), generator=torch.Generator().manual_seed(2))
    got = ops.true_label_log_probability(z, y)
    assert got.shape == (3, 700)
    torch.testing.assert_close(got[2], F.log_softmax(z[2], -1)[torch.arange(700), y], rtol=0, atol=1e-5)


@pytest.mark.parametrize("student_shape", [(300, 5), (3, 300, 5), (20, 5)])
def test_kl_to_targets_matches_kl_div_value_and_gradient(student_shape):
    gen = torch.Generator().manual_seed(3)
    teachers = F.log_softmax(2 * torch.randn(3, 300 if student_shape[-2] == 300 else 20, 5, generator=gen), -1)
    z = torch.randn(*student_shape, generator=gen).requires_grad_()
    ours = ops.kl_to_targets(z, teachers)
    ours.backward()
    ours_grad, z.grad = z.grad.clone(), None
    log_q = F.log_softmax(z, -1)
    ref = F.kl_div(log_q.expand_as(teachers), teachers, log_target=True, reduction="sum")
    ref.backward()
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ours_grad, z.grad, rtol=0, atol=1e-5)


def test_kl_to_targets_names_shapes_that_do_not_match():
    with pytest.raises(ValueError, match=r"logits \(8, 4\) do not match targets \(2, 8, 5\)"):
        ops.kl_to_targets(torch.zeros(8, 4), torch.zeros(2, 8, 5))

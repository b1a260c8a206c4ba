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


def _stacked_students(m, batch, width, classes, seed, grad=(True,) * 6):
    gen = torch.Generator().manual_seed(seed)
    feats = [torch.randn(batch, width, generator=gen).requires_grad_(grad[k]) for k in range(m)]
    logits = [(3 * torch.randn(batch, classes, generator=gen)).requires_grad_() for _ in range(m)]
    teacher_f = torch.randn(m, batch, width, generator=gen)
    teacher_lp = F.log_softmax(3 * torch.randn(m, batch, classes, generator=gen), -1)
    return feats, logits, teacher_f, teacher_lp


@pytest.mark.parametrize("m, batch, width, classes", [(2, 8, 16, 10), (3, 700, 16, 6), (6, 32, 64, 2)])
def test_distill_terms_equal_the_reference_terms_values_and_gradients(m, batch, width, classes):
    """The fused node against the per-term functions it replaces, forward and backward, weights included."""
    feats, logits, teacher_f, teacher_lp = _stacked_students(m, batch, width, classes, seed=m)
    feat, own, log_q = ops.distill_terms(feats, teacher_f, logits, teacher_lp, alpha=0.7, gamma=1.3)
    got = torch.autograd.grad(feat + own, feats + logits)
    ref_feat = 0.7 * F.mse_loss(torch.stack(feats), teacher_f, reduction="sum") / (batch * width)
    ref_own = 1.3 * ops.kl_between(F.log_softmax(torch.stack(logits), -1), teacher_lp) / batch
    ref = torch.autograd.grad(ref_feat + ref_own, feats + logits)
    torch.testing.assert_close(feat, ref_feat, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(own, ref_own, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(log_q, F.log_softmax(torch.stack(logits), -1), rtol=0, atol=1e-5)
    assert not log_q.requires_grad
    for g, r in zip(got, ref):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-7)


def test_distill_terms_leave_a_suppressed_modality_without_gradient():
    """An SMP-suppressed encoder's features carry no graph: no gradient is made for them."""
    feats, logits, teacher_f, teacher_lp = _stacked_students(2, 8, 4, 5, seed=9, grad=(False, True))
    feat, own, _ = ops.distill_terms(feats, teacher_f, logits, teacher_lp)
    (feat + own).backward()
    assert feats[0].grad is None and feats[1].grad is not None
    assert all(z.grad is not None for z in logits)


def test_distill_terms_under_bf16_autocast_compute_in_fp32_and_return_input_dtypes():
    feats, logits, teacher_f, teacher_lp = _stacked_students(2, 8, 4, 5, seed=4)
    low = [f.detach().bfloat16().requires_grad_() for f in feats]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        feat, own, _ = ops.distill_terms(low, teacher_f, logits, teacher_lp)
    assert feat.dtype == own.dtype == torch.float32
    (feat + own).backward()
    assert all(f.grad.dtype == torch.bfloat16 for f in low)


def test_distill_terms_name_mismatched_modality_counts():
    feats, logits, teacher_f, teacher_lp = _stacked_students(2, 8, 4, 5, seed=1)
    with pytest.raises(ValueError, match=r"2 student features, 1 student logits"):
        ops.distill_terms(feats, teacher_f, logits[:1], teacher_lp)


def test_padding_rule_follows_the_cpu_capability(monkeypatch):
    """The table is read per capability PyTorch reports; a capability without one never pads."""
    assert ops.PAD_RULES["AVX512"].lanes == 16 and ops.PAD_RULES["AVX2"].lanes == 8
    assert ops.PAD_RULES["AVX2"].applies(6, 4096) and not ops.PAD_RULES["AVX2"].applies(10, 4096)
    assert not ops.PAD_RULES["AVX512"].applies(10, 100) and not ops.PAD_RULES["AVX512"].applies(2, 10**6)
    assert ops.PAD_RULE == ops.PAD_RULES.get(torch.backends.cpu.get_cpu_capability(), ops.NO_PAD)
    assert ops.pad_rule_for("DEFAULT") is ops.NO_PAD and ops.pad_rule_for("SVE256") is ops.NO_PAD
    monkeypatch.setattr(ops, "PAD_RULE", ops.NO_PAD)
    z = torch.randn(3, 700, 6)
    assert torch.equal(ops.log_softmax(z), F.log_softmax(z, -1))  # the unpadded kernel itself

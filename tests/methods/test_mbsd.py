"""MBSD: per pair, ω = |p^a_y − p^b_y| when either modality is right (else 0) weights the logit
agreement and the stronger→weaker distillation; the stronger side is a detached teacher; the step
adds the unimodal losses and the pair terms inside the window only."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from g2d.methods.mbsd import pair_terms, self_distillation
from g2d.validation import ConfigError
from tests.conftest import tiny_config
from tests.methods.tiny import tiny


def test_pair_terms_by_hand() -> None:
    za = torch.tensor([[2.0, 0.0], [0.0, 1.0]])  # sample 0: a right and confident; sample 1: a wrong
    zb = torch.tensor([[0.5, 0.0], [0.0, 3.0]])  # sample 0: b right, less sure; sample 1: b wrong
    target = torch.tensor([0, 0])
    pa, pb = F.softmax(za, -1), F.softmax(zb, -1)
    w0 = float(pa[0, 0] - pb[0, 0])  # sample 1: nobody right -> weight 0
    rs, kl = pair_terms(za, zb, target)
    assert float(rs) == pytest.approx(w0 * float(((za[0] - zb[0]) ** 2).mean()) / 2)
    expected_kl = w0 * float((pa[0] * (pa[0].log() - pb[0].log())).sum()) / 2  # KL(p^a ‖ p^b): a is stronger
    assert float(kl) == pytest.approx(expected_kl)


def test_the_stronger_modality_is_a_detached_teacher() -> None:
    za = torch.tensor([[2.0, 0.0, 0.0]], requires_grad=True)
    zb = torch.tensor([[0.5, 0.0, 0.2]], requires_grad=True)
    _, kl = pair_terms(za, zb, torch.tensor([0]))
    kl.backward()
    assert torch.count_nonzero(za.grad) == 0 and torch.count_nonzero(zb.grad) > 0


def test_three_modalities_average_the_pairs() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = {m: torch.randn(6, 4, generator=gen) for m in "abc"}
    target = torch.tensor([0, 1, 2, 3, 0, 1])
    pairs = [pair_terms(logits[a], logits[b], target) for a, b in (("a", "b"), ("a", "c"), ("b", "c"))]
    rs, kl = self_distillation(logits, target)
    assert float(rs) == pytest.approx(sum(float(p[0]) for p in pairs) / 3)
    assert float(kl) == pytest.approx(sum(float(p[1]) for p in pairs) / 3)


def test_step_adds_unimodal_and_pair_terms_inside_the_window_only() -> None:
    built = tiny("mbsd", {"start_epoch": 1})
    modalities = built.splits.info.modalities
    _, outside = built.step(epoch=0)
    assert set(outside) == {"task"}
    batch = built.batch()
    with torch.no_grad():
        fused = built.model.fusion(built.model.encode(batch.inputs))
        rs, kl = self_distillation(fused.modality_logits, batch.target)
    _, inside = built.step(epoch=1, batch=batch)
    assert set(inside) == {"task", "rs", "kl", *(f"unimodal_{m}" for m in modalities)}
    assert float(inside["rs"].detach()) == pytest.approx(float(rs)) and float(inside["kl"].detach()) == pytest.approx(float(kl))


def test_regression_is_refused_at_config_load() -> None:
    with pytest.raises(ConfigError, match="mbsd distils softmax predictions"):
        tiny_config(data__options={"task_type": "regression", "num_train": 64, "num_val": 16, "num_test": 16},
                    method={"name": "mbsd"})

"""ARL: coefficients from the inverse of each unimodal prediction's variance (entropy) and the others'
bias (logit mass); the fused head sees re-weighted features, at training and test time."""
from __future__ import annotations

import pytest
import torch

from g2d.methods.arl import arl_coefficients
from tests.methods.tiny import tiny


def test_balanced_predictions_give_balanced_coefficients() -> None:
    z = torch.randn(8, 4)
    kappa = arl_coefficients({"a": z, "b": z.clone(), "c": z.clone()}, temperature=8.0)
    assert torch.allclose(kappa, torch.full((3,), 1 / 3))


def test_the_lower_variance_modality_gets_the_larger_coefficient() -> None:
    # equal logit mass (bias term equal), different entropy: "sure" has the lower variance
    sure = torch.tensor([[4.0, 0.0, 0.0, 0.0]]).repeat(8, 1)
    unsure = torch.ones(8, 4)
    kappa = arl_coefficients({"sure": sure, "unsure": unsure}, temperature=8.0)
    h_sure = -(torch.softmax(sure[0], -1) * torch.log_softmax(sure[0], -1)).sum()
    h = torch.stack([h_sure, torch.log(torch.tensor(4.0))])
    h = (h / h.sum()).clamp_min(0.3)
    w = (1 / h) / (1 / h).sum()
    expected = torch.softmax(8.0 * w * 0.5, 0)  # each modality's "others' bias" is 1/2
    assert torch.allclose(kappa, expected, atol=1e-6)
    assert kappa[0] > kappa[1]
    # a larger temperature sharpens the asymmetry
    assert arl_coefficients({"sure": sure, "unsure": unsure}, temperature=32.0)[0] > kappa[0]


def test_coefficients_apply_from_start_and_weigh_the_fused_features() -> None:
    built = tiny("arl", {"start": 0.5}, epochs=4)
    built.step(epoch=0)
    assert built.method.kappa is None  # before start: the plain model, γ = 1
    built.step(epoch=2, step=1)
    kappa = built.method.kappa
    assert kappa is not None and kappa.shape == (2,) and float(kappa.sum()) == pytest.approx(1.0)
    batch = built.batch(16)
    built.model.eval()
    with torch.no_grad():
        out = built.model(batch.inputs)  # evaluation goes through ARL's output
        features = built.model.encode(batch.inputs)
        expected = built.model.fusion({m: 2 * kappa[j] * features[m] for j, m in enumerate(built.model.modalities)})
    assert torch.allclose(out.logits, expected.logits, atol=1e-6)
    assert set(built.method.epoch_summary()["arl"]["kappa"]) == {"strong", "weak"}


def test_gamma_weighs_the_unimodal_terms_after_start() -> None:
    a = tiny("arl", {"start": 0.5, "gamma": 4.0}, epochs=4)
    _, before = a.step(epoch=0)
    b = tiny("arl", {"start": 0.5, "gamma": 4.0}, epochs=4)
    b.method.kappa = torch.tensor([0.5, 0.5])
    _, after = b.step(epoch=2)
    # same model, same batch, balanced κ = the plain model: the unimodal term is 4× the γ = 1 one
    assert float(after["unimodal"].detach()) == pytest.approx(4 * float(before["unimodal"].detach()), rel=1e-5)
    assert float(after["task"].detach()) == pytest.approx(float(before["task"].detach()), rel=1e-5)

"""ReconBoost: the learner alternates each round; the reconcilement regulariser vanishes when the
ensemble already predicts what the new learner predicts, and re-weights samples like boosting."""
from __future__ import annotations

import pytest
import torch

from g2d.methods.reconboost import reconcilement
from g2d.validation import ConfigError
from tests.conftest import tiny_config
from tests.methods.tiny import tiny


def changed(before: dict, after: dict, prefix: str) -> bool:
    return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))


def test_regulariser_is_zero_when_the_ensemble_equals_the_new_learner() -> None:
    gen = torch.Generator().manual_seed(0)
    z, y = torch.randn(8, 5, generator=gen), torch.randint(0, 5, (8,), generator=gen)
    assert float(reconcilement(z, z.clone(), y)) == pytest.approx(0.0, abs=1e-7)
    other = torch.randn(8, 5, generator=gen)
    q = torch.softmax(other, -1)[torch.arange(8), y]
    p = torch.softmax(z, -1)[torch.arange(8), y]
    assert float(reconcilement(z, other, y)) == pytest.approx(float((q * (q.log() - p.log())).mean()), rel=1e-5)


def test_loss_reweights_each_sample_by_one_minus_lambda_q() -> None:
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(6, 4, generator=gen, requires_grad=True)
    ensemble, y, lam = torch.randn(6, 4, generator=gen), torch.randint(0, 4, (6,), generator=gen), 0.2
    def ce() -> torch.Tensor:
        return torch.nn.functional.cross_entropy(z, y, reduction="none")

    (grad_boost,) = torch.autograd.grad(ce().mean() - lam * reconcilement(z, ensemble, y), z)
    q = torch.softmax(ensemble, -1)[torch.arange(6), y]
    (grad_weighted,) = torch.autograd.grad(((1 - lam * q) * ce()).mean(), z)
    torch.testing.assert_close(grad_boost, grad_weighted)


def test_rounds_alternate_the_learner_then_rectify() -> None:
    built = tiny("reconboost", {"boost_epochs": 1, "rectify_epochs": 1}, modalities=3, epochs=8)
    schedule = [built.method.schedule(e) for e in range(8)]
    assert [m for phase, m in schedule if phase == "boost"] == ["strong", "weak1", "weak2", "strong"]
    assert [phase for phase, _ in schedule] == ["boost", "rectify"] * 4
    ordered = tiny("reconboost", {"order": ["weak1", "strong", "weak2"]}, modalities=3)
    assert ordered.method.schedule(0) == ("boost", "weak1")


def test_a_boosting_round_trains_only_its_learner_and_rectification_trains_all() -> None:
    built = tiny("reconboost", {"boost_epochs": 1, "rectify_epochs": 1}, epochs=6)
    for epoch, learners in ((0, {"strong"}), (2, {"weak"}), (1, {"strong", "weak"})):
        before = built.snapshot()
        state, terms = built.step(epoch=epoch)
        after = built.snapshot()
        assert {m for m in ("strong", "weak") if changed(before, after, f"encoders.{m}.")} == learners
        assert set(terms) == ({"task", "recon"} if len(learners) == 1 else {"ensemble"})
    assert built.method.seen == {"strong", "weak"}


def test_untrained_learners_are_left_out_of_the_ensemble() -> None:
    built = tiny("reconboost")
    state = built.state()
    logits = torch.zeros(16, 4)
    assert torch.equal(built.method.ensemble_of_others(built.runner, state, "strong", logits), logits)
    built.method.seen.add("weak")
    assert not torch.equal(built.method.ensemble_of_others(built.runner, state, "strong", logits), logits)


def test_prediction_is_the_sum_of_the_learners_and_regression_is_refused() -> None:
    built = tiny("reconboost", fusion="late")
    built.model.eval()
    with torch.no_grad():
        out = built.model(built.batch().inputs)
    torch.testing.assert_close(out.logits, out.modality_logits["strong"] + out.modality_logits["weak"])
    with pytest.raises(ConfigError, match="reconcilement regulariser"):
        tiny_config(data__options={"task_type": "regression", "num_train": 64, "num_val": 16, "num_test": 16},
                    method={"name": "reconboost"})
    with pytest.raises(ConfigError, match="order: expected each of"):
        tiny_config(method={"name": "reconboost", "options": {"order": ["strong"]}})

"""CML: the penalty is mean_m mean_i ReLU(Conf(without m) − Conf(all)), zero when removing a modality
never raises the confidence, and training with it lowers the over-confident subset predictions."""
from __future__ import annotations

import pytest
import torch

from g2d.fusion import build_fusion
from g2d.methods.cml import calibration_penalty, confidence
from g2d.validation import ConfigError
from tests.conftest import tiny_config
from tests.methods.tiny import tiny


def test_penalty_counts_only_subsets_more_confident_than_the_whole() -> None:
    fusion = build_fusion("sum", {}, {"a": 2, "b": 2}, 2)
    with torch.no_grad():
        for m, head in fusion.heads.items():
            head.weight.copy_(torch.eye(2)), head.bias.zero_()
    # sample 0: a says class 0 loudly, b says class 1 softly -> without b the prediction is *more* confident
    features = {"a": torch.tensor([[3.0, 0.0], [1.0, 0.0]]), "b": torch.tensor([[0.0, 1.0], [1.0, 0.0]])}
    full = fusion(features).logits
    without_a = confidence(fusion({"a": torch.zeros(2, 2), "b": features["b"]}).logits)
    without_b = confidence(fusion({"a": features["a"], "b": torch.zeros(2, 2)}).logits)
    expected = (torch.relu(without_a - confidence(full)).mean() + torch.relu(without_b - confidence(full)).mean()) / 2
    got = calibration_penalty(fusion, features, full).detach()
    torch.testing.assert_close(got, expected)
    assert float(got) > 0 and float(torch.relu(without_b - confidence(full)).detach()[1]) == 0.0  # sample 1 agrees: no cost


def test_step_adds_the_weighted_penalty_and_trains() -> None:
    built = tiny("cml", {"lam": 2.0}, modalities=3)
    batch = built.batch()
    with torch.no_grad():  # the penalty of the weights before the step
        features = built.model.encode(batch.inputs)
        expected = 2.0 * calibration_penalty(built.model.fusion, features, built.model.fusion(features).logits)
    before = built.snapshot()
    _, terms = built.step(batch=batch)
    torch.testing.assert_close(terms["cml"].detach(), expected)
    assert any(not torch.equal(before[k], v) for k, v in built.snapshot().items())
    assert set(tiny("cml", {"lam": 0.0}).step()[1]) == {"task"}


def test_regression_is_refused_at_config_load() -> None:
    with pytest.raises(ConfigError, match="method.options: cml compares softmax confidences"):
        tiny_config(data__options={"task_type": "regression", "num_train": 64, "num_val": 16, "num_test": 16},
                    method={"name": "cml"})

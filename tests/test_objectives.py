import math

import pytest
import torch

from g2d.objectives import feature_distillation, g2d_objective, logit_distillation, task_loss


def test_task_loss_classification_is_cross_entropy_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    target = torch.tensor([0, 0])
    by_hand = (-math.log(math.e**2 / (math.e**2 + 1)) - math.log(1 / (1 + math.e))) / 2
    assert task_loss(logits, target, "classification").item() == pytest.approx(by_hand, rel=1e-6)


def test_task_loss_regression_is_mse_of_sigmoid():
    logits = torch.tensor([[0.0], [math.log(3.0)]])  # sigmoid -> 0.5, 0.75
    target = torch.tensor([1.0, 0.25])
    assert task_loss(logits, target, "regression").item() == pytest.approx((0.25 + 0.25) / 2)


def test_feature_distillation_sums_mse_over_modalities_and_stops_teacher_gradient():
    student = {"a": torch.tensor([[1.0, 2.0]], requires_grad=True), "b": torch.tensor([[0.0, 0.0]])}
    teacher = {"a": torch.tensor([[0.0, 0.0]], requires_grad=True), "b": torch.tensor([[3.0, 1.0]])}
    loss = feature_distillation(student, teacher)
    assert loss.item() == pytest.approx((1 + 4) / 2 + (9 + 1) / 2)
    loss.backward()
    assert teacher["a"].grad is None and student["a"].grad is not None


def test_logit_distillation_kl_by_hand_with_temperature():
    z_s = torch.tensor([[0.0, 0.0]])
    z_t = {"a": torch.tensor([[math.log(3.0), 0.0]]), "b": torch.tensor([[0.0, 0.0]])}
    # T = 1: KL([.75,.25] || [.5,.5]) + KL(uniform || uniform) = .75 ln 1.5 + .25 ln .5
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert logit_distillation(z_s, z_t, "classification", 1.0).item() == pytest.approx(expected, rel=1e-5)
    # T = 2 halves the teacher's logits and multiplies by T²
    p = torch.softmax(torch.tensor([math.log(3.0) / 2, 0.0]), 0)
    expected_t2 = 4 * float((p * (p / 0.5).log()).sum())
    assert logit_distillation(z_s, z_t, "classification", 2.0).item() == pytest.approx(expected_t2, rel=1e-5)


def test_logit_distillation_regression_is_mse_between_sigmoids():
    z_s = torch.tensor([[0.0]])
    z_t = {"a": torch.tensor([[math.log(3.0)]])}
    assert logit_distillation(z_s, z_t, "regression").item() == pytest.approx(0.25**2)


def test_g2d_objective_weights_terms_and_names_them():
    from g2d.data.base import Batch
    from g2d.model import ModelOutput
    from g2d.objectives import TeacherOutputs

    out = ModelOutput(torch.tensor([[0.0, 0.0]]), {}, {"a": torch.tensor([[1.0]])})
    batch = Batch({}, torch.tensor([0]), torch.tensor([0]))
    teacher = TeacherOutputs({"a": torch.tensor([[math.log(3.0), 0.0]])}, {"a": torch.tensor([[0.0]])})
    terms = g2d_objective("classification", alpha=2.0, beta=0.5, temperature=1.0)(out, batch, teacher)
    assert set(terms) == {"task", "feat", "logit"}
    assert terms["task"].item() == pytest.approx(math.log(2))
    assert terms["feat"].item() == pytest.approx(2.0)
    assert terms["logit"].item() == pytest.approx(0.5 * (0.75 * math.log(1.5) + 0.25 * math.log(0.5)), rel=1e-5)

import pytest
import torch

from g2d.scoring import modality_confidence, rank_ascending, true_label_confidence


def test_confidence_is_batch_mean_of_true_label_probability():
    logits = {"a": torch.log(torch.tensor([[0.9, 0.1], [0.4, 0.6]])),
              "b": torch.log(torch.tensor([[0.5, 0.5], [0.5, 0.5]]))}
    rho = modality_confidence(logits, torch.tensor([0, 0]), "classification")
    assert rho["a"].item() == pytest.approx((0.9 + 0.4) / 2)
    assert rho["b"].item() == pytest.approx(0.5)


def test_confidence_compares_across_batch_sizes():
    logits = torch.log(torch.tensor([[0.8, 0.2]]))
    one = modality_confidence({"a": logits}, torch.tensor([0]), "classification")["a"]
    many = modality_confidence({"a": logits.repeat(7, 1)}, torch.zeros(7, dtype=torch.long), "classification")["a"]
    assert one.item() == pytest.approx(many.item())


def test_regression_confidence_is_one_minus_mean_absolute_error():
    logits = torch.tensor([[0.0], [0.0]])  # sigmoid 0.5
    conf = true_label_confidence(logits, torch.tensor([1.0, 0.25]), "regression")
    assert conf.tolist() == pytest.approx([0.5, 0.75])


def test_ranking_is_ascending_and_ties_follow_declared_order():
    assert rank_ascending({"a": 0.9, "b": 0.1, "c": 0.5}, ["a", "b", "c"]) == ["b", "c", "a"]
    assert rank_ascending({"a": 0.5, "b": 0.5, "c": 0.2}, ["a", "b", "c"]) == ["c", "a", "b"]
    assert rank_ascending({"a": torch.tensor(0.3), "b": torch.tensor(0.3)}, ["b", "a"]) == ["b", "a"]


def test_one_definition_of_the_true_label_confidence():
    from g2d.metrics.functional import true_label_probability
    from g2d.scoring import true_label_confidence

    logits, target = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]]), torch.tensor([0, 2])
    fp32 = true_label_confidence(logits, target, "classification")
    assert fp32.dtype == torch.float32 and torch.equal(fp32, true_label_probability(logits, target, "classification",
                                                                                    dtype=torch.float32))
    expected = torch.softmax(logits.double(), -1)[[0, 1], [0, 2]]
    torch.testing.assert_close(true_label_probability(logits, target, "classification"), expected,
                               rtol=1e-15, atol=0)
    stacked = true_label_probability(torch.stack([logits, logits.flip(1)]), target, "classification")
    torch.testing.assert_close(stacked, torch.stack([expected, torch.softmax(logits.flip(1).double(), -1)[[0, 1], [0, 2]]]),
                               rtol=1e-15, atol=0)
    reg = true_label_confidence(torch.tensor([[0.0], [2.0]]), torch.tensor([0.25, 1.0]), "regression")
    torch.testing.assert_close(reg, torch.tensor([0.75, float(torch.sigmoid(torch.tensor(2.0)))]))

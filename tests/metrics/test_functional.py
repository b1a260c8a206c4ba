"""Each metric against a value computed by hand on tiny tensors."""
from __future__ import annotations

import math

import pytest
import torch

from g2d.metrics import (accuracy, confidence_ratio, feature_alignment, modality_gap, pca_2d, regression_scores,
                         true_label_probability)


def test_accuracy_counts_argmax_hits():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 0, 0])) == pytest.approx(2 / 3)


def test_regression_scores_by_hand():
    # err = [0, -1, 1]; mean y = 7/3; SS_tot = 16/9 + 2·4/9 = 8/3; SS_res = 2
    scores = regression_scores(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 3.0]))
    assert scores["mse"] == pytest.approx(2 / 3)
    assert scores["mae"] == pytest.approx(2 / 3)
    assert scores["mape"] == pytest.approx(100 * (0 + 1 / 3 + 1 / 3) / 3)
    assert scores["r2"] == pytest.approx(1 - 2 / (8 / 3))


def test_feature_alignment_is_mean_cosine():
    student = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    teacher = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert feature_alignment(student, teacher) == pytest.approx((1 + 1 / math.sqrt(2)) / 2)
    assert feature_alignment(student, -student) == pytest.approx(-1.0)


def test_feature_alignment_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(2, 2\) and \(2, 3\)"):
        feature_alignment(torch.zeros(2, 2), torch.zeros(2, 3))


def test_confidence_ratio_by_hand():
    # student p(true) = 0.5 and 0.75 -> 0.625; teacher p(true) = 0.75 twice -> 0.75
    ln3 = math.log(3.0)
    student = torch.tensor([[0.0, 0.0], [ln3, 0.0]])
    teacher = torch.tensor([[ln3, 0.0], [ln3, 0.0]])
    target = torch.tensor([0, 0])
    assert true_label_probability(student, target, "classification").tolist() == pytest.approx([0.5, 0.75])
    assert confidence_ratio(student, teacher, target) == pytest.approx(0.625 / 0.75)


def test_regression_confidence_is_one_minus_error():
    # sigmoid(0) = 0.5, target 0.25 -> 0.75; sigmoid(ln 3) = 0.75, target 0.25 -> 0.5
    logits = torch.tensor([[0.0], [math.log(3.0)]])
    target = torch.tensor([0.25, 0.25])
    assert true_label_probability(logits, target, "regression").tolist() == pytest.approx([0.75, 0.5])
    assert confidence_ratio(logits[1:], logits[:1], target[:1], "regression") == pytest.approx(0.5 / 0.75)


def test_modality_gap_between_normalised_centroids():
    a = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # normalised centroid (0.5, 0.5)
    b = torch.tensor([[-5.0, 0.0]])  # normalised centroid (-1, 0)
    assert modality_gap(a, b) == pytest.approx(math.sqrt(1.5 ** 2 + 0.5 ** 2))
    assert modality_gap(a, a * 7) == pytest.approx(0.0)


def test_pca_2d_finds_the_axes_and_their_variance_share():
    x = torch.tensor([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, -0.5, 0.0]])
    coords, share = pca_2d(x)
    assert share.tolist() == pytest.approx([0.8, 0.2])  # variances 2 and 0.5 of 2.5
    assert coords[:, 0].tolist() == pytest.approx([-1.0, 1.0, 0.0, 0.0], abs=1e-12)
    assert coords[:, 1].abs().tolist() == pytest.approx([0.0, 0.0, 0.5, 0.5], abs=1e-12)

"""Re-learning: k-means purity of each modality's representations on train and val; each encoder is
softly re-initialised, θ ← α θ_init + (1 − α) θ, with α = tanh(λ |purity_train − purity_val|)."""
from __future__ import annotations

import math

import pytest
import torch

from g2d.methods.relearn import kmeans, minmax_scale, purity, representation_purity
from tests.methods.tiny import tiny


def test_purity_of_clusters() -> None:
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    assert purity(torch.tensor([5, 5, 5, 7, 7, 9]), labels) == 1.0
    assert purity(torch.tensor([0, 0, 1, 1, 1, 1]), labels) == pytest.approx((2 + 2) / 6)  # majorities 0 and 1


def test_kmeans_separates_separated_blobs_and_scaling_maps_to_minus_one_one() -> None:
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = torch.arange(3).repeat_interleave(20)
    x = centres[labels] + 0.3 * torch.randn(60, 2, generator=gen)
    assert purity(kmeans(x, 3), labels) == 1.0
    assert representation_purity(x, labels, 3) == 1.0
    scaled = minmax_scale(torch.tensor([[1.0, 5.0], [3.0, 5.0], [2.0, 5.0]]))
    assert scaled[:, 0].tolist() == [-1.0, 1.0, 0.0] and scaled[:, 1].tolist() == [0.0, 0.0, 0.0]


def test_each_encoder_moves_back_towards_its_initial_weights_by_its_own_strength() -> None:
    built = tiny("relearn", {"every": 2, "times": 1, "lam": 3.0}, lr=0.2)
    init = built.snapshot()
    for step in range(4):
        built.step(epoch=0, step=step, batch=built.batch(16 * step))
    trained = built.snapshot()
    built.method.on_epoch_end(0, {})  # not a diagnosis epoch
    assert built.method.done == []
    built.method.on_epoch_end(1, {})
    (record,) = built.method.done
    after = built.snapshot()
    for m in ("strong", "weak"):
        r = record[m]
        alpha = math.tanh(3.0 * abs(r["purity_train"] - r["purity_val"]))
        assert r["alpha"] == pytest.approx(alpha)
        for k in (k for k in init if k.startswith(f"encoders.{m}.") and init[k].is_floating_point()
                  and "running" not in k and "num_batches" not in k):
            torch.testing.assert_close(after[k], alpha * init[k] + (1 - alpha) * trained[k])
    assert all(torch.equal(after[k], trained[k]) for k in after if k.startswith("fusion."))
    built.method.on_epoch_end(3, {})
    assert len(built.method.done) == 1  # times: 1

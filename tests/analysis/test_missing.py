"""Missing-modality masks and the robustness curve."""
from __future__ import annotations

import pytest
import torch

from g2d.analysis.missing import ZeroMissing, missing_modality_curve
from g2d.data.missing import missing_mask
from g2d.api import build_student, load_data
from g2d.data.base import Batch
from g2d.trainer import evaluate
from tests.conftest import tiny_config


def test_mask_drops_exactly_the_rate_and_keeps_one_modality_per_sample():
    present = missing_mask(10, 3, 0.3, seed=1)
    assert int((~present).sum()) == 9  # round(0.3 · 10 · 3)
    assert bool(present.any(dim=1).all())
    assert torch.equal(present, missing_mask(10, 3, 0.3, seed=1))
    assert not torch.equal(present, missing_mask(10, 3, 0.3, seed=2))


def test_mask_rates_are_nested_and_capped():
    low, high = missing_mask(20, 2, 0.2, seed=0), missing_mask(20, 2, 0.4, seed=0)
    assert bool((~low <= ~high).all())  # missing at 20 % -> missing at 40 %
    assert bool(missing_mask(20, 2, 0.0).all())
    capped = missing_mask(20, 2, 0.6)  # two modalities: at most 50 % can be missing
    assert int((~capped).sum()) == 20 and bool(capped.any(dim=1).all())
    with pytest.raises(ValueError, match="miss rate"):
        missing_mask(5, 2, 1.5)


def test_zero_missing_uses_split_indices():
    present = torch.tensor([[True, False], [False, True], [True, True]])
    batch = Batch({"a": torch.ones(2, 3), "b": torch.ones(2, 2, 2)}, torch.zeros(2), torch.tensor([2, 0]))
    out = ZeroMissing(present, ("a", "b"))(batch)
    assert out.inputs["a"].sum(dim=1).tolist() == [3.0, 3.0]
    assert out.inputs["b"].flatten(1).sum(dim=1).tolist() == [4.0, 0.0]  # sample 0 misses b


def test_curve_at_rate_zero_is_plain_evaluation_and_all_missing_hurts():
    config = tiny_config()
    splits = load_data(config)
    model = build_student(config, splits)
    curve = missing_modality_curve(model, splits.test, "cpu", rates=[0.0, 0.5], seed=3)
    assert curve[0]["metrics"]["accuracy"] == evaluate(model, splits.test, "cpu")["accuracy"]
    assert curve[0]["realised_rate"] == 0.0
    assert curve[1]["realised_rate"] == pytest.approx(0.5)
    assert curve[1]["metrics"]["num_samples"] == len(splits.test)

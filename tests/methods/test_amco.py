"""AMCo: p_t = sin(π/2 · min(ε, l_t)/ε) ramps up within an epoch, the mask zeroes ⌊p_t·D⌋ units and
rescales the rest, the dependent modality is the one holding ≥ σ of the concatenated softmax mass,
and a fully masked dependent encoder stops learning while the other keeps learning."""
from __future__ import annotations

import math

import pytest
import torch

from g2d.methods.amco import feature_mask, mask_ratio, modality_shares
from g2d.validation import ConfigError
from tests.conftest import tiny_config
from tests.methods.tiny import tiny


def test_mask_ratio_ramps_to_one_at_eps() -> None:
    assert mask_ratio(0.0, 10.0) == 0.0
    assert mask_ratio(5.0, 10.0) == pytest.approx(math.sin(math.pi / 4))
    assert mask_ratio(30.0, 10.0) == 1.0


def test_feature_mask_zeroes_a_share_and_rescales_the_rest() -> None:
    torch.manual_seed(0)
    mask = feature_mask(10, 0.3)
    assert int((mask == 0).sum()) == 3 and torch.allclose(mask[mask > 0], torch.full((7,), 1 / 0.7))
    mask = feature_mask(10, 0.95)
    assert int((mask == 0).sum()) == 9 and float(mask.max()) == pytest.approx(10.0)  # 1 / max(1 − p, 0.1)


def test_shares_of_the_concatenated_softmax() -> None:
    shares = modality_shares({"a": torch.tensor([[2.0, 0.0]]), "b": torch.tensor([[0.0, 0.0]])})
    total = math.exp(2) + 3
    assert shares["a"] == pytest.approx((math.exp(2) + 1) / total) and shares["b"] == pytest.approx(2 / total)


def test_the_dependent_modality_is_masked_and_stops_learning() -> None:
    built = tiny("amco", {"eps": 0.1}, momentum=0.0, weight_decay=0.0)
    method = built.method
    built.step(epoch=0, batch=built.batch(0))
    assert method.dependent is not None and method.l_t == 0.0  # epoch 0 never ramps
    state = built.state(epoch=2, batch=built.batch(16))
    with torch.no_grad():
        shares = modality_shares(built.model(state.batch.inputs).modality_logits)
    _, terms = built.step(epoch=2, batch=state.batch)  # a new epoch: flag cleared, no mask on this step
    assert set(terms) == {"task", *(f"unimodal_{m}" for m in built.splits.info.modalities)}
    dependent = method.dependent
    assert dependent == next(m for m, s in shares.items() if s >= 0.5) and method.l_t == pytest.approx(0.2)
    other = next(m for m in built.splits.info.modalities if m != dependent)
    before = built.snapshot()
    built.step(epoch=2, batch=built.batch(32))  # p_t = 1: every unit of the dependent modality masked
    after = built.snapshot()
    assert method.last_ratio == 1.0
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(f"encoders.{dependent}."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(f"encoders.{other}."))


def test_outside_the_window_it_is_joint_training() -> None:
    built = tiny("amco", {"start_epoch": 2})
    _, terms = built.step(epoch=1)
    assert set(terms) == {"task"} and built.method.dependent is None


def test_regression_is_refused_at_config_load() -> None:
    with pytest.raises(ConfigError, match="amco compares softmax shares"):
        tiny_config(data__options={"task_type": "regression", "num_train": 64, "num_val": 16, "num_test": 16},
                    method={"name": "amco"})

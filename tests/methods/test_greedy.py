"""Greedy: the learning speed S_m is each encoder's cumulative ‖∇θ‖²/‖θ‖²; once log10(max S / min S)
exceeds α, the next `window` steps train only the slowest modality's encoder with the others'
features replaced by their running mean; below α every encoder learns in every step."""
from __future__ import annotations

import math

import pytest
import torch

from g2d.methods.greedy import relative_gradient_energy, slowest_modality, speed_imbalance
from tests.methods.tiny import tiny


def moved(before: dict, after: dict, modality: str) -> bool:
    return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(f"encoders.{modality}."))


def test_relative_gradient_energy_is_grad_over_weight_energy() -> None:
    built = tiny("greedy")
    for m in built.model.modalities:
        for p in built.model.encoders[m].parameters():
            p.data.fill_(2.0)
            p.grad = torch.full_like(p, 0.5 if m == built.model.modalities[0] else 1.0)
    energy = relative_gradient_energy(built.model)
    first, second = built.model.modalities
    assert float(energy[first]) == pytest.approx(0.25 / 4.0)
    assert float(energy[second]) == pytest.approx(1.0 / 4.0)
    assert float(relative_gradient_energy(built.model, gradient_scale=2.0)[second]) == pytest.approx(1.0 / 16.0)


def test_imbalance_and_the_slowest_modality() -> None:
    assert speed_imbalance({"a": 10.0, "b": 1.0, "c": 5.0}) == pytest.approx(1.0)
    assert speed_imbalance({"a": 2.0, "b": 0.0}) == math.inf
    assert slowest_modality({"a": 10.0, "b": 1.0, "c": 5.0}) == "b"


def test_above_the_threshold_only_the_slower_encoder_learns_for_the_window() -> None:
    built = tiny("greedy", {"alpha": 0.0, "window": 2, "start_epoch": 0}, momentum=0.0, weight_decay=0.0)
    method = built.method
    built.step(step=0)  # a regular step: speeds measured, the imbalance exceeds α = 0
    slow = slowest_modality(method.speeds)
    assert method.caring == slow and method.remaining == 2
    fast = next(m for m in built.model.modalities if m != slow)
    speeds = dict(method.speeds)
    for step in (1, 2):
        before = built.snapshot()
        state, _ = built.step(step=step, batch=built.batch(16 * step))
        after = built.snapshot()
        assert moved(before, after, slow) and not moved(before, after, fast)
        assert state.active == frozenset({slow})
        expected = method.feature_mean[fast].expand_as(state.output.features[fast])
        torch.testing.assert_close(state.output.features[fast], expected)  # the other modality is blocked
    assert method.caring is None and method.speeds == speeds  # speeds measured on regular steps only
    assert method.epoch_summary()["greedy"]["rebalancing_steps"] == {slow: 2, fast: 0}


def test_below_the_threshold_every_encoder_learns() -> None:
    built = tiny("greedy", {"alpha": 1e9, "start_epoch": 0}, momentum=0.0, weight_decay=0.0)
    for step in range(3):
        before = built.snapshot()
        state, _ = built.step(step=step, batch=built.batch(16 * step))
        after = built.snapshot()
        assert state.active is None and built.method.caring is None
        assert all(moved(before, after, m) for m in built.model.modalities)


def test_no_rebalancing_before_start_epoch() -> None:
    built = tiny("greedy", {"alpha": 0.0, "start_epoch": 2})
    built.step(epoch=1)
    assert built.method.caring is None and built.method.imbalance > 0
    built.step(epoch=2, step=1)
    assert built.method.caring == slowest_modality(built.method.speeds)


def test_three_modalities_care_for_the_slowest() -> None:
    built = tiny("greedy", {"alpha": 0.0, "window": 1, "start_epoch": 0}, modalities=3, momentum=0.0,
                 weight_decay=0.0)
    built.step()
    slow = built.method.caring
    assert slow == slowest_modality(built.method.speeds)
    before = built.snapshot()
    built.step(step=1, batch=built.batch(16))
    after = built.snapshot()
    assert [moved(before, after, m) for m in built.model.modalities] == \
        [m == slow for m in built.model.modalities]

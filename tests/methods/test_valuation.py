"""Modality valuation: Shapley contributions of v(S) = |S|·correct(S), the sample-level copy counts
(the public code's intervals for M = 2), the modality-level rates, and a step that adds copies
keeping only the low-contributing modality."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from g2d.methods.valuation import (keep_only, modality_rates, sample_copies, shapley_contributions,
                                   subset_values)
from g2d.validation import ConfigError
from tests.conftest import tiny_config
from tests.methods.tiny import tiny


def test_two_modality_shapley_is_the_papers_closed_form() -> None:
    combos = list(itertools.product([0.0, 1.0], [0.0, 1.0], [0.0, 1.0]))  # correct(a), correct(v), correct(av)
    a, v, av = (torch.tensor(c, dtype=torch.float64) for c in zip(*combos))
    values = {frozenset({"a"}): a, frozenset({"v"}): v, frozenset({"a", "v"}): 2 * av}
    phi = shapley_contributions(values, ("a", "v"))
    torch.testing.assert_close(phi["a"], (a + 2 * av - v) / 2)
    torch.testing.assert_close(phi["v"], (v + 2 * av - a) / 2)


def test_three_modality_shapley_sums_to_the_full_value() -> None:
    gen = torch.Generator().manual_seed(0)
    names = ("a", "b", "c")
    values = {frozenset(s): len(s) * torch.randint(0, 2, (5,), generator=gen).double()
              for k in (1, 2, 3) for s in itertools.combinations(names, k)}
    phi = shapley_contributions(values, names)
    torch.testing.assert_close(sum(phi.values()), values[frozenset(names)])  # efficiency
    only_a = {s: len(s) * float("a" in s) * torch.ones(1, dtype=torch.float64) for s in values}  # a decides alone
    phi = shapley_contributions(only_a, names)
    assert [float(phi[m]) for m in names] == [pytest.approx(2.0), pytest.approx(0.5), pytest.approx(0.5)]
    torch.testing.assert_close(phi["a"] + phi["b"] + phi["c"], torch.tensor([3.0], dtype=torch.float64))


def test_subset_values_zero_the_missing_modalities() -> None:
    from g2d.fusion import build_fusion
    fusion = build_fusion("sum", {}, {"a": 2, "b": 2}, 2)
    with torch.no_grad():
        for head in fusion.heads.values():
            head.weight.copy_(torch.eye(2)), head.bias.zero_()
    features = {"a": torch.tensor([[2.0, 0.0]]), "b": torch.tensor([[0.0, 1.0]])}  # a says 0, b says 1, sum says 0
    values = subset_values(fusion, features, torch.tensor([0]))
    assert {tuple(sorted(s)): float(v) for s, v in values.items()} == {("a",): 1.0, ("b",): 0.0, ("a", "b"): 2.0}
    assert torch.equal(keep_only(features, frozenset({"b"}))["a"], torch.zeros(1, 2))


def test_sample_copies_follow_the_papers_intervals() -> None:
    phi = torch.tensor([1.5, 1.0, 0.5, 0.0, -0.5, 0.95, 0.3])
    assert sample_copies(phi, 3).tolist() == [0, 0, 1, 2, 3, 0, 2]
    assert sample_copies(phi, 1).tolist() == [0, 0, 1, 1, 1, 0, 1]


def test_modality_rates_give_copies_to_the_less_contributing_modality() -> None:
    rates = modality_rates({"a": 0.9, "v": 0.3}, alpha=1.0)
    assert rates == {"a": 0.0, "v": pytest.approx(2 / 3 * 0.6)}  # α · 2/3 · |gap_a − gap_v|


def test_a_step_adds_copies_that_keep_only_the_low_contributing_modality() -> None:
    built = tiny("valuation", momentum=0.0, weight_decay=0.0)
    weak, strong = built.splits.info.modalities[1], built.splits.info.modalities[0]
    n = len(built.splits.train)
    batch = built.batch(size=8)
    with torch.no_grad():
        features = built.model.encode(batch.inputs)
        plain = F.cross_entropy(built.model.fusion(features).logits, batch.target)
    assert float(built.method.forward_objective(built.runner, built.state(batch=batch))[1].detach()) == pytest.approx(float(plain))
    built.method.contribution = {strong: torch.full((n,), 1.5), weak: torch.full((n,), -0.5)}  # 3 copies of weak alone
    with torch.no_grad():
        alone = built.model.fusion(keep_only(features, frozenset({weak}))).logits
        expected = F.cross_entropy(torch.cat([built.model.fusion(features).logits, alone.repeat_interleave(3, 0)]),
                                   torch.cat([batch.target, batch.target.repeat_interleave(3)]))
    _, loss = built.method.forward_objective(built.runner, built.state(batch=batch))
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-6)


def test_valuation_starts_after_the_warmup_and_values_every_train_sample() -> None:
    built = tiny("valuation", {"warmup": 2})
    built.method.on_epoch_end(0, {})
    assert built.method.contribution is None
    built.method.on_epoch_end(1, {})
    contribution = built.method.contribution
    assert set(contribution) == set(built.splits.info.modalities)
    assert all(c.shape == (len(built.splits.train),) for c in contribution.values())
    total = sum(contribution.values())
    assert set(total.tolist()) <= {0.0, 2.0}  # efficiency: the contributions add up to v(all) ∈ {0, 2}
    assert set(built.method.epoch_summary()["contribution"]) == set(built.splits.info.modalities)


def test_modality_level_sets_rates_from_a_part_of_the_train_split() -> None:
    built = tiny("valuation", {"level": "modality", "warmup": 1, "part_ratio": 0.5})
    built.method.on_epoch_end(0, {})
    rates = built.method.rates
    assert min(rates.values()) == 0.0 and set(rates) == set(built.splits.info.modalities)


def test_regression_is_refused_at_config_load() -> None:
    with pytest.raises(ConfigError, match="valuation values a modality by correct predictions"):
        tiny_config(data__options={"task_type": "regression", "num_train": 64, "num_val": 16, "num_test": 16},
                    method={"name": "valuation"})

"""MSLR: the optimiser's parameter groups carry the configured per-modality learning rates."""
from __future__ import annotations

import pytest
import torch

from g2d.config import OptimConfig
from g2d.optim import build_optimizer, build_scheduler
from g2d.validation import ConfigError
from tests.conftest import tiny_config
from tests.methods.tiny import tiny


def test_param_groups_carry_the_configured_rates() -> None:
    built = tiny("mslr", {"rates": {"weak": 0.3}, "scales": {"strong": 0.5, "weak": 9.0}, "fusion_rate": 0.02},
                 lr=0.1)
    groups = {g["name"]: g for g in built.runner.optimizer.param_groups}
    assert groups["encoder.weak"]["lr"] == 0.3  # an absolute rate wins over a scale
    assert groups["encoder.strong"]["lr"] == pytest.approx(0.05)
    assert groups["fusion"]["lr"] == 0.02
    model = built.model
    assert {id(p) for p in groups["encoder.weak"]["params"]} == {id(p) for p in model.encoders["weak"].parameters()}
    assert {id(p) for p in groups["fusion"]["params"]} == {id(p) for p in model.fusion.parameters()}
    assert sum(len(g["params"]) for g in groups.values()) == len(list(model.parameters()))


def test_rates_follow_the_schedule_and_the_step_uses_them() -> None:
    built = tiny("mslr", {"rates": {"strong": 0.0001, "weak": 0.5}}, lr=0.1, momentum=0.0, weight_decay=0.0)
    groups = built.method.param_groups(built.model, 0.1)
    optimizer = build_optimizer(groups, OptimConfig(lr=0.1, momentum=0.0, weight_decay=0.0, step_size=1, gamma=0.5))
    scheduler = build_scheduler(optimizer, OptimConfig(step_size=1, gamma=0.5))
    optimizer.step()  # no gradients yet: a no-op, keeps the scheduler's expected order
    scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.00005, 0.25, 0.05])
    before = built.snapshot()
    state = built.state()
    out = built.model(state.batch.inputs)
    torch.nn.functional.cross_entropy(out.logits, state.batch.target).backward()
    grads = {n: p.grad.clone() for n, p in built.model.named_parameters()}
    built.runner.optimizer.step()
    after = built.snapshot()
    for name, rate in (("encoders.strong.net.1.weight", 0.0001), ("encoders.weak.net.1.weight", 0.5),
                       ("fusion.head.weight", 0.1)):
        torch.testing.assert_close(after[name], before[name] - rate * grads[name])


def test_unknown_modality_is_refused_at_config_load() -> None:
    with pytest.raises(ConfigError, match=r"rates: unknown modalities \['audio'\]"):
        tiny_config(method={"name": "mslr", "options": {"rates": {"audio": 0.1}}})
    with pytest.raises(ConfigError, match="scales: every value must be > 0"):
        tiny_config(method={"name": "mslr", "options": {"scales": {"weak": 0}}})


def test_dynamic_rates_follow_each_modality_val_accuracy_every_window() -> None:
    built = tiny("mslr", {"window": 2, "scales": {"weak": 2.0}}, lr=0.1)
    history = [(0.4, 0.2), (0.6, 0.3), (0.6, 0.3), (0.3, 0.6)]
    for epoch, (s, w) in enumerate(history):
        built.method.on_epoch_end(epoch, {"modality_accuracy": {"strong": s, "weak": w}})
        if epoch == 1:
            built.step(epoch=2)  # the factors land on the groups at the next optimiser step
            lrs = {g["name"]: g["lr"] for g in built.runner.optimizer.param_groups}
            assert lrs["encoder.strong"] == pytest.approx(0.1 * 0.6 / 0.5)
            assert lrs["encoder.weak"] == pytest.approx(0.2 * 0.3 / 0.25)
            assert lrs["fusion"] == 0.1
    built.step(epoch=4)
    lrs = {g["name"]: g["lr"] for g in built.runner.optimizer.param_groups}
    assert lrs["encoder.strong"] == pytest.approx(0.1 * 1.2 * 0.3 / 0.45)  # stalled then fell: smaller
    assert lrs["encoder.weak"] == pytest.approx(0.2 * 1.2 * 0.6 / 0.45)
    fresh = tiny("mslr", {"window": 2})
    fresh.method.load_state_dict(built.method.state_dict())
    assert fresh.method.modulators[0].factors == built.method.modulators[0].factors


def test_keep_strategy_is_static() -> None:
    built = tiny("mslr", {"strategy": "keep", "window": 1, "rates": {"weak": 0.3}}, lr=0.1)
    assert built.method.modulators == []
    built.method.on_epoch_end(0, {"modality_accuracy": {"strong": 0.9, "weak": 0.1}})
    built.step()
    assert {g["name"]: g["lr"] for g in built.runner.optimizer.param_groups}["encoder.weak"] == 0.3

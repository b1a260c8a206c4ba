"""The optimiser factory: the method's groups as they are by default; biases and norm-layer
parameters without weight decay when ``no_decay_norm_and_bias`` is on."""
from __future__ import annotations

import torch

from g2d.config import OptimConfig
from g2d.optim import create_optimizer, param_groups, split_weight_decay
from tests.methods.tiny import tiny


def test_default_keeps_the_methods_groups_and_decays_every_parameter():
    t = tiny("mslr", {"strategy": "keep"})
    groups = param_groups(t.method, t.model, OptimConfig(name="sgd", weight_decay=0.5))
    assert groups == t.method.param_groups(t.model, 1e-3)
    optimizer = create_optimizer(t.method, t.model, OptimConfig(name="sgd", weight_decay=0.5))
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.5, 0.5, 0.5]


def test_no_decay_splits_each_group_and_keeps_its_name_and_rate():
    t = tiny("mslr", {"strategy": "keep", "scales": {"weak": 2.0}})
    cfg = OptimConfig(name="sgd", lr=0.1, weight_decay=0.5, no_decay_norm_and_bias=True)
    optimizer = create_optimizer(t.method, t.model, cfg)
    names = {id(p): n for n, p in t.model.named_parameters()}
    rows = [(g.get("name"), g["lr"], g["weight_decay"], sorted(names[id(p)] for p in g["params"]))
            for g in optimizer.param_groups]
    decayed = [n for _, _, wd, ps in rows if wd == 0.5 for n in ps]
    exempt = [n for _, _, wd, ps in rows if wd == 0.0 for n in ps]
    assert all(n.endswith(".bias") for n in exempt) and len(exempt) == len(decayed)
    assert all(n.endswith(".weight") for n in decayed)
    assert [(name, lr, wd) for name, lr, wd, _ in rows] == [
        ("encoder.strong", 0.1, 0.5), ("encoder.strong", 0.1, 0.0),
        ("encoder.weak", 0.2, 0.5), ("encoder.weak", 0.2, 0.0),
        ("fusion", 0.1, 0.5), ("fusion", 0.1, 0.0)]


def test_an_exempt_parameter_does_not_shrink_without_a_gradient():
    layer = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    groups = split_weight_decay([{"params": list(layer.parameters())}], layer.named_parameters())
    optimizer = torch.optim.SGD(groups, lr=0.1, momentum=0.0, weight_decay=0.5)
    before = {n: p.detach().clone() for n, p in layer.named_parameters()}
    for p in layer.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    after = dict(layer.named_parameters())
    assert torch.equal(after["0.weight"], before["0.weight"] * (1 - 0.1 * 0.5))
    for name in ("0.bias", "1.weight", "1.bias"):
        assert torch.equal(after[name], before[name])

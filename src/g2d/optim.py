"""Optimiser, parameter groups and learning-rate schedule from an :class:`OptimConfig`.

In the manner of timm's ``create_optimizer_v2`` / ``param_groups_weight_decay``: the method says
which parameters form which group (its own rates, names); this module turns them into an
optimiser. With ``no_decay_norm_and_bias`` every group is split in two and the parameters with
at most one dimension (biases, BatchNorm/LayerNorm scales and shifts) get no weight decay.
The default (off) decays every parameter, as the paper's runs did.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import torch
from torch import nn

from g2d.config import OptimConfig

if TYPE_CHECKING:
    from g2d.methods.base import Method


def is_norm_or_bias(name: str, param: nn.Parameter) -> bool:
    """timm's rule: 1-d parameters (norm layers' scales and shifts) and every ``.bias``."""
    return param.ndim <= 1 or name.endswith(".bias")


def split_weight_decay(groups: list[dict[str, Any]], named: Iterable[tuple[str, nn.Parameter]],
                       ) -> list[dict[str, Any]]:
    """Each group becomes a decayed group and a ``weight_decay=0`` group holding its norm and bias
    parameters; both halves keep every other key of the group (its ``lr``, its ``name``, so a
    modulator that finds a group by name rescales both); empty halves are left out."""
    exempt = {id(p) for n, p in named if is_norm_or_bias(n, p)}
    out = []
    for group in groups:
        params = list(group["params"])
        decay = [p for p in params if id(p) not in exempt]
        no_decay = [p for p in params if id(p) in exempt]
        if decay:
            out.append({**group, "params": decay})
        if no_decay:
            out.append({**group, "params": no_decay, "weight_decay": 0.0})
    return out


def param_groups(method: "Method", model: nn.Module, cfg: OptimConfig) -> list[dict[str, Any]]:
    """The method's parameter groups, split by weight decay when ``cfg`` asks for it."""
    groups = method.param_groups(model, cfg.lr)
    return split_weight_decay(groups, model.named_parameters()) if cfg.no_decay_norm_and_bias else groups


def build_optimizer(groups: list[dict[str, Any]], cfg: OptimConfig) -> torch.optim.Optimizer:
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    cls = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
    return cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def create_optimizer(method: "Method", model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """The optimiser a run trains ``model`` with ``method`` under ``cfg``."""
    return build_optimizer(param_groups(method, model, cfg), cfg)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig) -> torch.optim.lr_scheduler.LRScheduler:
    step = cfg.step_size if cfg.step_size is not None else 10**9
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=cfg.gamma)

"""Tiny models, data and fake teachers for the method and modulator tests (no files, no training)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from g2d.config import OptimConfig
from g2d.data import DataSplits, build_splits
from g2d.data.base import Batch
from g2d.methods import Method, MethodContext, build_method
from g2d.model import MultimodalModel, build_model
from g2d.modulators.base import StepState
from g2d.objectives import TeacherOutputs
from g2d.optim import create_optimizer
from g2d.step import StepRunner, build_step_state


def tiny_splits(modalities: int = 2, task: str = "classification", classes: int = 4, dim: int = 8,
                num_train: int = 64) -> DataSplits:
    return build_splits("synthetic", {"num_modalities": modalities, "task_type": task, "num_classes": classes,
                                      "dim": dim, "num_train": num_train, "num_val": 16, "num_test": 16})


def tiny_model(splits: DataSplits, fusion: str = "concat", hidden: int = 16, out_dim: int = 8,
               seed: int = 0) -> MultimodalModel:
    torch.manual_seed(seed)
    encoders = {m: {"name": "mlp", "options": {"hidden": [hidden], "out_dim": out_dim}} for m in splits.info.modalities}
    return build_model(splits.info, encoders, {"name": fusion, "options": {}})


class FakeTeachers:
    """Fixed random teacher logits/features per training sample; ``bias`` makes a modality's
    teacher confident (adds ``bias`` to the true class's logit)."""

    def __init__(self, splits: DataSplits, model: MultimodalModel, bias: dict[str, float] | None = None,
                 seed: int = 1) -> None:
        gen = torch.Generator().manual_seed(seed)
        n, c = len(splits.train), splits.info.num_outputs
        target = splits.train.targets()
        self.logits, self.features = {}, {}
        for m in splits.info.modalities:
            z = torch.randn(n, c, generator=gen)
            if c > 1 and bias:
                z[torch.arange(n), target.long()] += bias.get(m, 0.0)
            self.logits[m] = z
            self.features[m] = torch.randn(n, model.encoders[m].out_dim, generator=gen)

    def lookup(self, batch: Batch) -> TeacherOutputs:
        return TeacherOutputs({m: z[batch.index] for m, z in self.logits.items()},
                              {m: f[batch.index] for m, f in self.features.items()})


@dataclass
class Tiny:
    splits: DataSplits
    model: MultimodalModel
    method: Method
    runner: StepRunner
    teachers: FakeTeachers
    epochs: int

    def batch(self, start: int = 0, size: int = 16) -> Batch:
        return self.splits.train.get_batch(list(range(start, start + size)))

    def state(self, epoch: int = 0, step: int = 0, batch: Batch | None = None) -> StepState:
        batch = batch if batch is not None else self.batch()
        info = self.splits.info
        return build_step_state(self.method, batch, epoch=epoch, step=step, modalities=info.modalities,
                                task=info.task, teachers=self.teachers)

    def step(self, epoch: int = 0, step: int = 0, batch: Batch | None = None) -> tuple[StepState, dict]:
        state = self.state(epoch, step, batch)
        terms = self.method.training_step(self.runner, state)
        return state, terms

    def snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}


def tiny(method: str = "joint", options: dict[str, Any] | None = None, modulators: list[dict] | None = None, *,
         modalities: int = 2, task: str = "classification", fusion: str = "concat", epochs: int = 4,
         lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 1e-4, hidden: int = 16,
         dim: int = 8, teacher_bias: dict[str, float] | None = None, seed: int = 0) -> Tiny:
    """A built method on a tiny model with an SGD (momentum, weight decay) optimiser and a runner."""
    splits = tiny_splits(modalities, task, dim=dim)
    model = tiny_model(splits, fusion, hidden=hidden, seed=seed)
    context = MethodContext(splits.info.modalities, task, epochs, model, splits.train, splits.val)
    built = build_method(method, options, context, modulators)
    optim = OptimConfig(name="sgd", lr=lr, momentum=momentum, weight_decay=weight_decay)
    optimizer = create_optimizer(built, model, optim)
    runner = StepRunner(model, optimizer, torch.device("cpu"), "fp32")
    return Tiny(splits, model, built, runner, FakeTeachers(splits, model, teacher_bias), epochs)

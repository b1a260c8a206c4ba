"""Helpers of ``test_distributed.py``: a tiny G2D setup, run in one process or as one DDP rank.

Importable by name (``tests`` is on ``sys.path``), so ``torch.multiprocessing.spawn`` can start it.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist

from g2d.config import OptimConfig, TrainConfig
from g2d.data.base import DatasetInfo, TensorDataset
from g2d.methods import MethodContext, build_method
from g2d.model import build_model
from g2d.objectives import TeacherOutputs
from g2d.runtime import RuntimeConfig
from g2d.trainer import Trainer

MODALITIES = ("a", "b")
N, DIM, CLASSES, FEAT = 32, 6, 3, 5


class TableTeachers:
    """Teacher outputs held in a table, read by the batch's sample indices (like the cache)."""

    def __init__(self, logits: dict[str, torch.Tensor], features: dict[str, torch.Tensor]) -> None:
        self.logits, self.features = logits, features
        self.reads: list[list[int]] = []

    def lookup(self, batch) -> TeacherOutputs:
        idx = batch.index
        assert idx.device.type == "cpu"
        self.reads.append(idx.tolist())
        return TeacherOutputs({m: t[idx] for m, t in self.logits.items()},
                              {m: t[idx] for m, t in self.features.items()})


def data(confident_a: bool) -> tuple[TensorDataset, TableTeachers]:
    """Inputs, targets and teacher outputs. ``confident_a``: teacher a is sure of every sample, so
    b is always the least confident and a is suppressed in every SMP step; otherwise confidences
    are random per sample and the ranking depends on which samples a batch holds."""
    gen = torch.Generator().manual_seed(7)
    info = DatasetInfo(MODALITIES, "classification", CLASSES, {m: (DIM,) for m in MODALITIES})
    inputs = {m: torch.randn(N, DIM, generator=gen) for m in MODALITIES}
    target = torch.randint(0, CLASSES, (N,), generator=gen)
    logits = {m: 2.0 * torch.randn(N, CLASSES, generator=gen) for m in MODALITIES}
    if confident_a:
        logits["a"] = 10.0 * torch.nn.functional.one_hot(target, CLASSES).float()
    features = {m: torch.randn(N, FEAT, generator=gen) for m in MODALITIES}
    return TensorDataset(inputs, target, info), TableTeachers(logits, features)


def make_trainer(batch_size: int, confident_a: bool) -> tuple[Trainer, TableTeachers]:
    torch.manual_seed(0)
    train, teachers = data(confident_a)
    encoders = {m: {"name": "mlp", "options": {"hidden": [8], "out_dim": FEAT}} for m in MODALITIES}
    model = build_model(train.info, encoders, {"name": "concat"})
    context = MethodContext(MODALITIES, "classification", 2, model)
    method = build_method("g2d", {"phases": [1], "ranking": "teacher", "schedule": "fixed"}, context)  # epoch 0: SMP phase, epoch 1: joint
    config = TrainConfig(epochs=2, optim=OptimConfig(lr=0.1, momentum=0.9, weight_decay=0.01))
    trainer = Trainer(model, method, train, train, None, config, RuntimeConfig(batch_size=batch_size),
                      teachers=teachers, progress=False)
    return trainer, teachers


def snapshot(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def run(batch_size: int, confident_a: bool) -> dict:
    """Epoch 0 (SMP) then epoch 1 (joint); the parameters after each, and the per-step choices."""
    trainer, teachers = make_trainer(batch_size, confident_a)
    active: list = []
    original = trainer.method.training_step

    def recording_step(runner, state):
        terms = original(runner, state)
        active.append(sorted(state.active) if state.active is not None else None)
        return terms

    trainer.method.training_step = recording_step
    out = {"initial": snapshot(trainer)}
    out["log0"] = trainer.train_epoch(0)
    out["after_smp"] = snapshot(trainer)
    out["log1"] = trainer.train_epoch(1)
    out["after_joint"] = snapshot(trainer)
    out["active"], out["reads"] = active, teachers.reads
    return out


def unused_grads_stay_none(trainer: Trainer) -> dict[str, bool]:
    """One manual DDP forward/backward with only b learning: a's grads must stay None."""
    train, _ = data(False)
    batch = train.get_batch(list(range(4)))
    out = trainer.runner.model(batch.inputs, frozenset({"b"}))
    out.logits.sum().backward()
    result = {"a_none": all(p.grad is None for p in trainer.model.encoders["a"].parameters()),
              "b_set": all(p.grad is not None for p in trainer.model.encoders["b"].parameters())}
    trainer.optimizer.zero_grad(set_to_none=True)
    return result


def worker(rank: int, world_size: int, folder: str) -> None:
    """One DDP rank (gloo, file rendezvous): both scenarios, results saved for the test."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world_size)
    try:
        result = {"random": run(8 // world_size, confident_a=False),
                  "confident_a": run(8 // world_size, confident_a=True)}
        trainer, _ = make_trainer(8 // world_size, False)
        result["grads"] = unused_grads_stay_none(trainer)
        from g2d.distributed import global_confidence
        # rank 0 alone would rank "b" first; the global batch ranks "a" first
        local = ({"a": torch.tensor(0.9), "b": torch.tensor(0.1)}, 2) if rank == 0 else \
            ({"a": torch.tensor(0.0), "b": torch.tensor(0.5)}, 6)
        result["global_confidence"] = {m: float(v) for m, v in global_confidence(*local).items()}
        torch.save(result, Path(folder) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()

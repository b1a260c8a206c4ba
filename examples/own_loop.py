"""G2D in a training loop of your own: G2DLoss + SMP + TeacherCache, in plain PyTorch.

    python examples/own_loop.py [RUN_FOLDER]     # a few seconds on the CPU

g2d trains the unimodal teachers and caches their outputs (`g2d teachers` + `g2d cache` do the
same from the command line); everything after that is an ordinary PyTorch loop. With the same
config and seed it computes what `g2d train` computes (tests/test_public.py checks it).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

from g2d.api import build_student, cache_teacher_outputs, load_config, load_data, train_teachers
from g2d.config import ExperimentConfig, replace
from g2d.data.loader import make_loader
from g2d import SMP, G2DLoss, TeacherCache
from g2d.runtime import epoch_seed, seed_everything

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def train(config: ExperimentConfig, cache: TeacherCache, smp: SMP) -> tuple[torch.nn.Module, list[dict]]:
    """Train config's student with the G2D loss under ``smp``; returns the model and per-epoch losses."""
    splits = load_data(config)
    seed_everything(config.seed)
    model = build_student(config, splits)  # model.encoders[m] (nn.Modules) and a fusion head model.fusion
    opt = config.student.optim
    optimizer = torch.optim.SGD(model.parameters(), lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay)
    loss_fn = G2DLoss(splits.info.task)  # method g2d's weights: alpha=1, beta=0, gamma=1, temperature=1
    log = []
    for epoch in range(config.student.epochs):
        seed = epoch_seed(config.seed, epoch)  # g2d's per-epoch seeds, so the batches match `g2d train`
        torch.manual_seed(seed)
        model.train()
        sums, samples = {}, 0
        for batch in make_loader(splits.train, config.data.batch_size, shuffle=True, seed=seed):
            teacher = cache.lookup_indices(batch.index)  # the teachers' logits and features of these samples
            smp.select(epoch, teacher=teacher, target=batch.target)  # which encoders learn in this step
            features = smp.encode(model.encoders, batch.inputs)  # the others run without autograd
            fused = model.fusion(features)
            out = loss_fn(fused.logits, modality_logits=fused.modality_logits, features=features,
                          teacher=teacher, target=batch.target)
            out.loss.backward()
            smp.observe(fused.modality_logits, teacher, batch.target)  # SMP's confidence ratio
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)  # a suppressed encoder keeps .grad None: untouched
            for name, value in out.terms.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach()) * len(batch)
            samples += len(batch)
        row = smp.end_epoch(epoch)
        log.append({"epoch": epoch, "loss": {k: v / samples for k, v in sums.items()}, "smp": row})
        total = sum(log[-1]["loss"].values())
        print(f"epoch {epoch}: loss {total:.4f}, SMP prioritised {row['prioritised'] or 'none'}")
    return model, log


def prepare(run: Path) -> tuple[ExperimentConfig, TeacherCache]:
    """The demo's config (a few epochs), its teachers trained by g2d and their outputs cached in ``run``."""
    config = replace(load_config(CONFIG), {"teachers.epochs": 2, "student.epochs": 4, "method.options.phases": [2]})
    splits = load_data(config)
    train_teachers(config, run, splits, progress=False)  # RUN/teachers/<modality>
    return config, TeacherCache.open(cache_teacher_outputs(config, run, splits))  # RUN/cache


def main(run: Path) -> None:
    config, cache = prepare(run)
    info = load_data(config).info
    train(config, cache, SMP(info.modalities, config.student.epochs, task=info.task, phases=[2]))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="g2d-own-loop-")))

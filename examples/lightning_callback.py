"""G2D in a Lightning project: G2DLoss in the LightningModule, SMP applied by SMPCallback.

    pip install 'g2d[lightning]'
    python examples/lightning_callback.py      # a few seconds on the CPU

Tiny made-up data with two modalities; the "teachers" are fixed modules (in a real project: the
unimodal teachers you trained, or g2d's from `g2d teachers`), their outputs cached once.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from g2d.data.memory import from_arrays
from g2d.integrations.lightning import SMPCallback
from g2d import SMP, G2DLoss, TeacherCache

MODALITIES, CLASSES, WIDTH = ("a", "b"), 3, 4


class Teacher(nn.Module):
    """A stand-in for a trained unimodal teacher: ``x -> (logits, features)``."""

    def __init__(self, confidence: float) -> None:
        super().__init__()
        self.confidence = confidence

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.confidence * x[:, :CLASSES], x


def make_data(n: int = 60):
    """A g2d training split (for the cache) and the same samples as a TensorDataset of
    ``(x_a, x_b, target, index)`` (for Lightning): each modality carries the class, b more noisily."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % CLASSES
    onehot = nn.functional.one_hot(y, WIDTH).float()
    x = {"a": onehot + 0.3 * torch.randn(n, WIDTH, generator=g), "b": onehot + 0.8 * torch.randn(n, WIDTH, generator=g)}
    train = from_arrays({m: v.numpy() for m, v in x.items()}, y.numpy()).train
    batch = train.get_batch(range(len(train)))  # index = position in the training split, what the cache is keyed on
    return train, TensorDataset(batch.inputs["a"], batch.inputs["b"], batch.target, batch.index)


class Student(L.LightningModule):
    """One encoder per modality (``self.encoders``, where SMPCallback finds them) and a late-fusion head."""

    def __init__(self, cache: TeacherCache) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict({m: nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.ReLU()) for m in MODALITIES})
        self.heads = nn.ModuleDict({m: nn.Linear(WIDTH, CLASSES) for m in MODALITIES})
        self.cache, self.loss = cache, G2DLoss()

    def training_step(self, batch, batch_idx):
        xa, xb, target, index = batch
        teacher = self.cache.lookup_indices(index)  # the teachers' logits and features of these samples
        features = {m: self.encoders[m](x) for m, x in zip(MODALITIES, (xa, xb))}
        modality_logits = {m: self.heads[m](f) for m, f in features.items()}
        fused = modality_logits["a"] + modality_logits["b"]
        out = self.loss(fused, modality_logits=modality_logits, features=features, teacher=teacher, target=target)
        self.log_dict({f"train/{k}": v for k, v in out.terms.items()})
        # what SMPCallback measures after the step: z_s^m, the teachers' outputs, the targets
        return {"loss": out.loss, "modality_logits": modality_logits, "teacher": teacher, "target": target}

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)


def main(folder: Path, epochs: int = 4, paper: bool = False) -> SMPCallback:
    train, data = make_data()
    cache = TeacherCache.build(folder / "cache", {"a": Teacher(4.0), "b": Teacher(1.0)}, train)  # computed once
    if paper:  # the paper's SMP ranks every batch by the teachers' confidence, before the forward
        callback = SMPCallback(SMP.paper(MODALITIES, epochs, phases=[2]), teachers=cache,
                               index=lambda batch: batch[3], target=lambda batch: batch[2])
    else:  # method g2d's SMP (neglect ranking, adaptive schedule): decided once per epoch
        callback = SMPCallback(SMP(MODALITIES, epochs, phases=[2]))
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, callbacks=[callback], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Student(cache), DataLoader(data, batch_size=8))
    for row in callback.smp.history:
        print(f"epoch {row['epoch']}: SMP prioritised {row['prioritised'] or 'none'}, ratio {row['ratio']}")
    return callback


if __name__ == "__main__":
    main(Path(tempfile.mkdtemp(prefix="g2d-lightning-")))

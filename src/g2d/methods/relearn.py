"""Diagnosing & Re-learning (Wei, Li, Hu et al., "Diagnosing and Re-learning for Balanced
Multimodal Learning", ECCV 2024): every few epochs, diagnose how well each modality's encoder has
learned from the separability of its own representations, and softly re-initialise each encoder
the more it has over-learned, so a modality that has fitted its training data cannot keep the
others from learning.

Diagnosis (every ``every`` epochs, at most ``times`` times): for each modality, the features
``f_s^m`` of the train and of the validation split are clustered by k-means into as many clusters
as classes (features min-max scaled to [−1, 1] per dimension, as the paper's representation-quality
measure), and each clustering's *purity* is computed (the share of samples whose cluster's majority
class is their class). The gap ``g_m = |purity_train − purity_val|`` measures over-fitting of that
representation; the re-initialisation strength is ``α_m = tanh(λ · g_m)`` and every parameter of
encoder m becomes ``α_m · θ_init + (1 − α_m) · θ_now`` (``θ_init`` = its weights before training).
The loss is joint training's task loss; the fusion head is never re-initialised.

Decided where the paper is silent or where we could not read it: ``every: 5``, ``times: 3``,
``λ: 2``; k-means is ours (torch, k-means++ seeding from a fixed seed, 20 Lloyd iterations), so no
new dependency; the diagnosis runs in eval mode without gradients on the whole train and val splits
(on large data sets raise ``every``); the optimiser's momentum is kept across a re-initialisation.
Any number of modalities (each is diagnosed and re-initialised on its own). Classification only.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import Field
from torch import Tensor

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.objectives import task_objective
from g2d.registry import ExperimentContext, Options


class RelearnOptions(Options):
    every: int = Field(5, gt=0, description="epochs between diagnoses (and soft re-initialisations)")
    times: int = Field(3, ge=0, description="how many re-initialisations at most")
    lam: float = Field(2.0, ge=0, description="λ in α = tanh(λ · |purity_train − purity_val|)")

    def check_against(self, context: ExperimentContext) -> None:
        if context.task != "classification":
            raise ValueError(f"relearn diagnoses by clustering purity against classes; the task is {context.task!r}")


def kmeans(x: Tensor, k: int, seed: int = 0, iterations: int = 20) -> Tensor:
    """Cluster index per row of ``x`` (N, D): k-means++ seeding, then Lloyd iterations."""
    gen = torch.Generator().manual_seed(seed)
    x = x.double()
    centres = x[torch.randint(len(x), (1,), generator=gen)]
    for _ in range(1, min(k, len(x))):
        d2 = torch.cdist(x, centres).amin(1) ** 2
        probs = d2 / d2.sum() if d2.sum() > 0 else torch.full_like(d2, 1.0 / len(d2))
        centres = torch.cat([centres, x[torch.multinomial(probs, 1, generator=gen)]])
    for _ in range(iterations):
        assign = torch.cdist(x, centres).argmin(1)
        for c in range(len(centres)):
            members = x[assign == c]
            if len(members):
                centres[c] = members.mean(0)
    return torch.cdist(x, centres).argmin(1)


def purity(clusters: Tensor, labels: Tensor) -> float:
    """Share of samples whose cluster's majority label is their own label."""
    hits = 0
    for c in torch.unique(clusters):
        hits += int(torch.bincount(labels[clusters == c]).max())
    return hits / len(labels)


def minmax_scale(x: Tensor) -> Tensor:
    """Each column to [−1, 1] (a constant column becomes 0)."""
    lo, hi = x.amin(0), x.amax(0)
    return torch.where(hi > lo, 2 * (x - lo) / (hi - lo).clamp_min(1e-12) - 1, torch.zeros_like(x))


def representation_purity(features: Tensor, labels: Tensor, classes: int) -> float:
    return purity(kmeans(minmax_scale(features.float()), classes), labels.long())


def reinit_strength(gap: float, lam: float) -> float:
    return math.tanh(lam * gap)


class Relearning(Method):
    def __init__(self, task: str, options: RelearnOptions, context: MethodContext) -> None:
        super().__init__(task_objective(task))
        if context.train_data is None or context.val_data is None:
            raise ValueError("relearn needs the train and validation splits (MethodContext.train_data, val_data)")
        self.options, self.model = options, context.model
        self.train_data, self.val_data = context.train_data, context.val_data
        self.classes = context.train_data.info.num_classes
        self.initial = {m: {n: p.detach().clone() for n, p in context.model.encoders[m].named_parameters()}
                        for m in context.modalities}
        self.done: list[dict[str, Any]] = []  # every diagnosis: epoch, purities, strengths

    @torch.no_grad()
    def split_features(self, dataset, batch_size: int = 256) -> tuple[dict[str, Tensor], Tensor]:
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        feats: dict[str, list[Tensor]] = {m: [] for m in self.model.modalities}
        labels = []
        for start in range(0, len(dataset), batch_size):
            batch = dataset.get_batch(list(range(start, min(start + batch_size, len(dataset))))).to(device)
            for m, f in self.model.encode(batch.inputs, masks=batch.masks).items():
                feats[m].append(f.float().cpu())
            labels.append(batch.target.cpu())
        self.model.train(was_training)
        return {m: torch.cat(v) for m, v in feats.items()}, torch.cat(labels)

    def diagnose(self) -> dict[str, dict[str, float]]:
        (train_f, train_y), (val_f, val_y) = self.split_features(self.train_data), self.split_features(self.val_data)
        report = {}
        for m in self.model.modalities:
            p_train = representation_purity(train_f[m], train_y, self.classes)
            p_val = representation_purity(val_f[m], val_y, self.classes)
            report[m] = {"purity_train": p_train, "purity_val": p_val,
                         "alpha": reinit_strength(abs(p_train - p_val), self.options.lam)}
        return report

    @torch.no_grad()
    def reinitialise(self, strengths: dict[str, float]) -> None:
        for m, alpha in strengths.items():
            for name, param in self.model.encoders[m].named_parameters():
                param.mul_(1 - alpha).add_(self.initial[m][name].to(param.device), alpha=alpha)

    def on_epoch_end(self, epoch: int, val_metrics: dict[str, Any]) -> None:
        super().on_epoch_end(epoch, val_metrics)
        if (epoch + 1) % self.options.every or len(self.done) >= self.options.times:
            return
        report = self.diagnose()
        self.reinitialise({m: r["alpha"] for m, r in report.items()})
        self.done.append({"epoch": epoch, **report})

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "initial": self.initial, "done": list(self.done)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "initial" in state:
            self.initial = {m: {n: t.clone() for n, t in p.items()} for m, p in state["initial"].items()}
        self.done = list(state.get("done", []))


@METHODS.register("relearn", options=RelearnOptions)
def relearn(options: RelearnOptions, context: MethodContext) -> Method:
    """Re-learning: soft re-initialisation of each encoder by its representation's purity gap (train vs val)."""
    return Relearning(context.task, options, context)

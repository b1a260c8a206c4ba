"""PMR, prototypical modal rebalance (Fan et al., CVPR 2023).

Prototypes: at the start of every epoch, ``P^m[c]`` = the mean student feature ``f_s^m`` of the
training samples of class c (one pass over the train split, model in eval mode, no gradients;
from the second epoch on blended with the previous prototypes:
``P ← (1 − momentum)·P_new + momentum·P_old``; a class absent from the split keeps its previous
prototype, zero at first).

Each step, with ``sim^m = −‖f_s^m − P^m‖₂`` (B, C):

- prototypical cross-entropy ``PCE^m = CE(sim^m, y)``;
- prototype scores ``score^m = Σ_batch softmax(sim^m)[y]``; the dominant modality d has the
  highest score. Every other modality m is accelerated with weight
  ``clip(score^d / score^m − 1, 0, 1)``, the dominant one gets weight 0. For M = 2 this is the
  paper's β / λ rule; for M > 2 each weaker modality is compared with the dominant one.
- prototypical entropy regularisation on the dominant modality during the first ``per_epochs``
  epochs: ``−μ · max_m(weight^m) · H(softmax(sim^d))`` (batch-mean entropy; maximising it slows
  the dominant modality's clustering).

``L = L_task + α · Σ_m weight^m · PCE^m − μ · max weight · H^d``, within the modulation window
(``start_epoch`` ≤ epoch < ``end_epoch``); the plain task loss outside it. PMR needs classes,
so regression is refused at config load.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from g2d.data.base import MultimodalDataset
from g2d.methods.base import METHODS, Method, MethodContext
from g2d.model import MultimodalModel
from g2d.modulators.base import StepState
from g2d.modulators.ogm import EpochWindowOptions
from g2d.objectives import Objective, task_objective
from g2d.registry import ExperimentContext

if TYPE_CHECKING:
    from g2d.step import StepRunner


class PMROptions(EpochWindowOptions):
    alpha: float = Field(1.0, ge=0, description="weight of the prototypical cross-entropy of weaker modalities")
    mu: float = Field(0.01, ge=0, description="weight of the entropy regulariser on the dominant modality")
    per_epochs: int = Field(10, ge=0, description="epochs (from start_epoch) during which the entropy "
                                                 "regulariser is applied")
    momentum: float = Field(0.5, ge=0, lt=1, description="weight of the previous epoch's prototypes")

    def check_against(self, context: ExperimentContext) -> None:
        super().check_against(context)
        if context.task != "classification":
            raise ValueError(f"PMR builds one prototype per class and needs a classification task, "
                             f"got task {context.task!r}")


@torch.no_grad()
def class_means(model: MultimodalModel, dataset: MultimodalDataset, num_classes: int,
                device: torch.device, batch_size: int = 256) -> tuple[dict[str, Tensor], Tensor]:
    """Per-modality class means of the features over ``dataset`` (eval mode) and class counts."""
    from g2d.data.loader import make_loader

    was_training = model.training
    model.eval()
    sums: dict[str, Tensor] = {}
    counts = torch.zeros(num_classes, device=device)
    for batch in make_loader(dataset, batch_size, shuffle=False):
        batch = batch.to(device)
        features = model.encode(batch.inputs, masks=batch.masks)
        target = batch.target.long()
        counts += torch.bincount(target, minlength=num_classes).float()
        for m, f in features.items():
            if m not in sums:
                sums[m] = torch.zeros(num_classes, f.shape[1], device=device)
            sums[m].index_add_(0, target, f.float())
    model.train(was_training)
    return {m: s / counts.clamp_min(1)[:, None] for m, s in sums.items()}, counts


class PMRMethod(Method):
    def __init__(self, objective: Objective, options: PMROptions, train_data: MultimodalDataset | None) -> None:
        super().__init__(objective)
        self.options, self.train_data = options, train_data
        self.prototypes: dict[str, Tensor] = {}
        self.prototype_epoch = -1

    def in_window(self, epoch: int) -> bool:
        o = self.options
        return epoch >= o.start_epoch and (o.end_epoch is None or epoch < o.end_epoch)

    def update_prototypes(self, model: MultimodalModel, device: torch.device, epoch: int) -> None:
        if self.train_data is None:
            raise RuntimeError("PMR needs the training split to compute class prototypes (context.train_data)")
        num_classes = self.train_data.info.num_classes
        means, counts = class_means(model, self.train_data, num_classes, device)
        present = (counts > 0)[:, None]
        for m, new in means.items():
            old = self.prototypes.get(m)
            if old is None:
                self.prototypes[m] = new
                continue
            old = old.to(device)
            blended = (1 - self.options.momentum) * new + self.options.momentum * old
            self.prototypes[m] = torch.where(present, blended, old)
        self.prototype_epoch = epoch

    def prototype_terms(self, features: dict[str, Tensor], target: Tensor, epoch: int) -> dict[str, Tensor]:
        names = list(features)
        target = target.long()
        sims = [-torch.cdist(features[m].float(), self.prototypes[m]) for m in names]  # M × (B, C)
        scores = torch.stack([torch.softmax(s.detach(), -1).gather(1, target[:, None]).sum() for s in sims])
        # score^d / score^m − 1 is 0 for the dominant modality d itself: it is never accelerated
        weights = (scores.max() / scores.clamp_min(1e-12) - 1).clamp(0, 1)  # (M,)
        pce = torch.stack([F.cross_entropy(s, target) for s in sims])
        terms = {"pce": self.options.alpha * (weights * pce).sum()}
        if self.options.mu > 0 and epoch < self.options.start_epoch + self.options.per_epochs:
            logp = [torch.log_softmax(s, -1) for s in sims]
            entropy = torch.stack([-(p.exp() * p).sum(-1).mean() for p in logp])
            terms["per"] = -self.options.mu * weights.max() * entropy[scores.argmax()]
        return terms

    def training_step(self, runner: "StepRunner", state: StepState) -> dict[str, Tensor]:
        modulate = self.in_window(state.epoch)
        if modulate and self.prototype_epoch != state.epoch:
            self.update_prototypes(runner.model, runner.device, state.epoch)
        state.active = self.select_active(state)
        with runner.autocast():
            state.output = runner.model(state.batch.inputs, state.active, state.batch.masks)
            terms = self.objective(state.output, state.batch, state.teacher)
            if modulate:
                terms.update(self.prototype_terms(state.output.features, state.batch.target, state.epoch))
            loss = torch.stack(list(terms.values())).sum()
        runner.backward(loss, state, self.modulators)
        runner.optimizer_step(state, self.modulators)
        return terms

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "prototype_epoch": self.prototype_epoch,
                "prototypes": {m: p.detach().cpu() for m, p in self.prototypes.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.prototype_epoch = int(state.get("prototype_epoch", -1))
        self.prototypes = dict(state.get("prototypes", {}))


@METHODS.register("pmr", options=PMROptions)
def pmr(options: PMROptions, context: MethodContext) -> Method:
    """PMR (Fan et al. 2023): prototypical cross-entropy accelerates the weaker modalities."""
    return PMRMethod(task_objective(context.task), options, context.train_data)

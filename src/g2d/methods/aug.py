"""AUG, alternating unimodal boosting (Jiang, Huang & Yang, NeurIPS 2025 oral, "Rethinking Multimodal
Learning from the Perspective of Mitigating Classification Ability Disproportion").

The paper's diagnosis: modality imbalance is a disproportion of *classification ability* between
the modalities' classifiers. AUG balances it with sustained boosting on a shared head, adding
classifiers to the weak modality as training goes.

* **Modality prediction**: ``F^m = z_s^m + Σ_{j<n_m} g^m_j(f_s^m)`` — modality m's path through the
  fusion head plus its ``n_m`` added learners. A learner is ``g(f) = W_shared · ReLU(A f)`` (a new
  linear map A into the *shared* classifier ``W_shared`` of the ``shared`` fusion, as the official
  model's ``fc_out(relu(layer(x)))``); with a fusion that has no shared classifier, a linear
  classifier of its own on ``f_s^m`` (we warn).
* **Alternating unimodal steps**: every batch, the modalities take turns (one optimiser step each,
  the other encoders do not run), modality m on
  ``L_m = CE(F^m, y)`` while ``n_m = 0``, else ``CE(F^m) + CE(F^m_prev) + CE(g_new) − λ_r · CE(g_new, y ⊙ sg[softmax(F^m_prev)])``
  with ``F^m_prev`` the prediction before the newest learner ``g_new`` — the classification error
  and the residual error optimised together; the last term (λ_r = 0.5) is ``+λ_r p_prev,y log q_y``:
  the new learner is pushed to concentrate where the earlier ones are still wrong (boosting).
* **Adaptive classifier assignment**: the scores ``s_m = Σ_i softmax(F^m_i)_{y_i}`` are summed
  over the epoch; after the first epoch and then every ``epochs // 10`` epochs, if
  ``max_m s_m / min_m s_m > λ + 0.01`` (λ = 1) one learner is added to the weakest modality.
* **Test time**: ``Σ_m w_m F^m`` (equal weights by default; the official CREMA-D run weighs audio
  0.4 and video 0.6).

Learners are created up front, ``max_learners`` per modality (the official ``num_layers`` = 10),
and *activated* one by one: they are in the optimiser from the first step (an inactive learner has
no gradient, so neither SGD nor Adam — momentum and weight decay included — moves it), so every
added classifier is learned as soon as it is added and a resumed run restores exactly the grown
model: the active counts and every learner's weights are in the method's checkpoint state. (The
official code adds layers after building the optimiser, so its new layers are never updated.) The
learners belong to the method, not to the saved model weights: ``best.safetensors`` holds the
encoders and head only. Any number of modalities; classification only.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from g2d.methods._unimodal import check_shapes_once, encode_one, modality_path, weighted_sum
from g2d.methods.base import METHODS, Method, MethodContext
from g2d.model import ModelOutput, MultimodalModel
from g2d.modulators.base import StepState
from g2d.objectives import task_objective
from g2d.registry import ExperimentContext, Options

if TYPE_CHECKING:
    from g2d.step import StepRunner


class AUGOptions(Options):
    lam: float = Field(1.0, gt=0, description="λ: a learner is added to the weakest modality when the strongest's "
                       "epoch score over the weakest's exceeds λ + 0.01")
    residual_weight: float = Field(0.5, ge=0, description="λ_r, weight of the residual (boosting) term of the "
                                   "newest learner (official 0.5)")
    max_learners: int = Field(10, ge=0, description="most learners added per modality (official num_layers 10)")
    check_every: int | None = Field(None, gt=0, description="epochs between assignment checks (also after the "
                                    "first epoch); default epochs // 10, at least 1 (official)")
    weights: list[float] | None = Field(None, description="test-time weight of each modality's prediction F^m, in "
                                        "the data set's modality order; default equal (official CREMA-D: 0.4, 0.6)")

    def check_against(self, context: ExperimentContext) -> None:
        if context.task != "classification":
            raise ValueError(f"AUG scores modalities by their true-class probability and boosts class "
                             f"distributions; it needs a classification task, got task {context.task!r}")
        if self.weights is not None and len(self.weights) != len(context.modalities):
            raise ValueError(f"weights: expected one per modality {list(context.modalities)}, got {self.weights}")


class Learner(nn.Module):
    """``W_shared · ReLU(A f)`` through the shared classifier, or a linear classifier of its own."""

    def __init__(self, in_dim: int, shared: nn.Linear | None, num_outputs: int) -> None:
        super().__init__()
        self.shared = [shared]  # a list: the shared head is the model's parameter, not the learner's
        self.map = nn.Linear(in_dim, shared.in_features if shared is not None else num_outputs)
        nn.init.xavier_normal_(self.map.weight)
        nn.init.zeros_(self.map.bias)

    def forward(self, feature: Tensor) -> Tensor:
        head = self.shared[0]
        return head(torch.relu(self.map(feature))) if head is not None else self.map(feature)


def residual_loss(new: Tensor, previous: Tensor, target: Tensor) -> Tensor:
    """``CE(new, y ⊙ sg[softmax(previous)]) = −mean_i p_prev,i,y log q_i,y`` (the official soft-target CE)."""
    p_prev = torch.softmax(previous.detach().float(), -1).gather(1, target.long()[:, None]).squeeze(1)
    log_q = torch.log_softmax(new.float(), -1).gather(1, target.long()[:, None]).squeeze(1)
    return -(p_prev * log_q).mean()


class AUGMethod(Method):
    def __init__(self, context: MethodContext, options: AUGOptions) -> None:
        super().__init__(task_objective(context.task))
        model = context.model
        self.options, self.modalities = options, model.modalities
        shared = model.fusion.shared_classifier
        if shared is None:
            warnings.warn(f"AUG: fusion {type(model.fusion).__name__} has no classifier shared by all modalities; "
                          f"each added learner gets a linear classifier of its own (use model.fusion.name: shared "
                          f"for the paper's setting)", stacklevel=2)
        dims, outputs = model.fusion.feature_dims, model.fusion.num_outputs
        self.learners = nn.ModuleDict({m: nn.ModuleList([Learner(dims[m], shared, outputs)
                                                         for _ in range(options.max_learners)])
                                       for m in self.modalities})
        self.active = {m: 0 for m in self.modalities}  # n_m: learners in use per modality
        self.check_every = options.check_every or max(1, context.epochs // 10)
        self.scores = {m: 0.0 for m in self.modalities}
        self._score_sums: dict[str, Tensor] = {}
        self.added: list[dict[str, Any]] = []
        self._checked = [False]
        self.bind_eval_output(model)

    def param_groups(self, model: MultimodalModel, lr: float) -> list[dict[str, Any]]:
        """The model's parameters plus every learner's (moved to the model's device): a learner is
        in the optimiser before it is activated, so it learns from its first step on."""
        self.learners.to(next(model.parameters()).device)
        return super().param_groups(model, lr) + [{"params": list(self.learners.parameters()), "lr": lr}]

    # ---- predictions -------------------------------------------------------------------------
    def boosted(self, model: MultimodalModel, modality: str, feature: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """``(F^m, F^m_prev, g_new)``: the prediction, the one before the newest learner, the newest learner's."""
        total = modality_path(model, modality, feature)
        previous, newest = total, None
        for learner in self.learners[modality][:self.active[modality]]:
            previous, newest = total, learner(feature)
            total = total + newest
        return total, previous, newest

    def modality_loss(self, total: Tensor, previous: Tensor, newest: Tensor | None, target: Tensor) -> Tensor:
        loss = F.cross_entropy(total, target.long())
        if newest is None:
            return loss
        return loss + F.cross_entropy(previous, target.long()) + F.cross_entropy(newest, target.long()) \
            - self.options.residual_weight * residual_loss(newest, previous, target)

    # ---- training ----------------------------------------------------------------------------
    def training_step(self, runner: "StepRunner", state: StepState) -> dict[str, Tensor]:
        model, batch = runner.model, state.batch
        check_shapes_once(model, batch, self._checked)
        terms, predictions = {}, {}
        for m in self.modalities:
            with runner.autocast():
                feature = encode_one(model, batch, m)
                total, previous, newest = self.boosted(model, m, feature)
                loss = self.modality_loss(total, previous, newest, batch.target)
            state.active = frozenset({m})
            runner.backward(loss, state, self.modulators)
            runner.optimizer_step(state, self.modulators)
            terms[f"task_{m}"], predictions[m] = loss.detach(), total.detach()
            with torch.no_grad():
                score = torch.softmax(total.detach().float(), -1).gather(1, batch.target.long()[:, None]).sum()
                self._score_sums[m] = self._score_sums[m] + score if m in self._score_sums else score
        state.active = frozenset(self.modalities)
        state.output = ModelOutput(self.fuse(predictions), predictions, {})
        return terms

    def on_epoch_end(self, epoch: int, val_metrics: dict[str, Any]) -> None:
        super().on_epoch_end(epoch, val_metrics)
        if self._score_sums:
            self.scores = {m: float(v) for m, v in self._score_sums.items()}
            self._score_sums = {}
        if epoch == 0 or (epoch + 1) % self.check_every == 0:
            self.assign(epoch)

    def assign(self, epoch: int) -> str | None:
        """Adaptive classifier assignment: activate one more learner for the weakest modality when
        the strongest's score exceeds it by more than λ + 0.01; returns the modality grown (or None)."""
        weakest = min(self.modalities, key=lambda m: self.scores[m])
        strongest = max(self.modalities, key=lambda m: self.scores[m])
        if self.scores[weakest] <= 0 or self.scores[strongest] / self.scores[weakest] <= self.options.lam + 0.01:
            return None
        if self.active[weakest] >= self.options.max_learners:
            return None
        self.active[weakest] += 1
        self.added.append({"epoch": epoch, "modality": weakest})
        return weakest

    # ---- test time ---------------------------------------------------------------------------
    def fusion_weights(self, like: Tensor) -> Tensor:
        w = self.options.weights or [1 / len(self.modalities)] * len(self.modalities)
        return torch.tensor(w, device=like.device, dtype=torch.float32)[:, None].expand(-1, like.shape[0])

    def fuse(self, predictions: dict[str, Tensor]) -> Tensor:
        return weighted_sum(predictions, self.fusion_weights(next(iter(predictions.values()))))

    def eval_output(self, output: ModelOutput) -> ModelOutput:
        """``Σ_m w_m F^m`` with ``F^m`` = the model's ``z_s^m`` plus modality m's active learners."""
        predictions = {}
        for m in self.modalities:
            total = output.modality_logits[m]
            for learner in self.learners[m][:self.active[m]]:
                total = total + learner(output.features[m])
            predictions[m] = total
        return ModelOutput(self.fuse(predictions), predictions, output.features)

    def epoch_summary(self) -> dict[str, Any]:
        summary = super().epoch_summary()
        summary["aug"] = {"learners": dict(self.active), "scores": {m: round(s, 3) for m, s in self.scores.items()}}
        return summary

    def state_dict(self) -> dict[str, Any]:
        learners = {k: v.detach().cpu() for k, v in self.learners.state_dict().items()}
        return {**super().state_dict(), "active": dict(self.active), "learners": learners,
                "scores": dict(self.scores), "added": list(self.added)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.active = {m: int(n) for m, n in (state.get("active") or self.active).items()}
        if state.get("learners"):
            self.learners.load_state_dict(state["learners"])  # copies into the existing (device) tensors
        self.scores = dict(state.get("scores") or self.scores)
        self.added = list(state.get("added") or [])


@METHODS.register("aug", options=AUGOptions)
def aug(options: AUGOptions, context: MethodContext) -> Method:
    """AUG (Jiang et al. 2025): alternating unimodal boosting on a shared head; learners added to the
    weakest modality when the epoch scores are disproportionate."""
    return AUGMethod(context, options)

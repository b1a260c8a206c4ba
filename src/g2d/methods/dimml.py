"""DI-MML, detached and interactive multimodal learning (Fan et al., ACM MM 2024).

Detached: every encoder is trained only by objectives of its own modality, so the modalities never
compete for one fused loss — ``L = Σ_m [CE(z_s^m, y) + w · CE(S f_s^m, y)] + L_DUC``. ``z_s^m`` is
the modality's own path through the fusion head (its "own classifier"); ``S`` is one linear
classifier shared by all modalities, a training-only head owned by the method that puts every
modality's features in one common space (it is not part of the saved model; it needs equal
feature widths). The fused head gets no loss.

Interactive, the dimension-decoupled unidirectional contrastive (DUC) loss: from the epoch
``round(duc_start · epochs)`` on, each modality's *effective* feature dimensions are fixed once,
from a pass over the training split (eval mode): along dimension d, a sample is "recognised" when
its nearest class mean (on that dimension alone) is its own class; ``E_m`` = the dimensions whose
recognition rate is above modality m's average. For every ordered pair (a, b), the dimensions
``D_ab = E_a \\ E_b`` that are effective for a but not for b carry knowledge from a to b: on them,
b's features of sample i must pick a's features of sample i among the batch's (InfoNCE with
similarity ``<f_b[D], f_a[D]> / τ``), with a's side detached — the transfer is one-way, a's
encoder gets no gradient from it. Any number of modalities (all ordered pairs).

Test time, certainty-aware logit weighting: per sample, ``w^m = softmax_m(max_c p^m_c / T)`` over
modalities with ``p^m = softmax(z_s^m)``, prediction ``Σ_m w^m z_s^m``. (The official code can add
a separately trained fusion classifier as one more predictor; we do not.) Defaults follow the
official code: DUC from epoch 20 of 150 (``duc_start`` ≈ 0.15), raw dot products at τ = 1
(``similarity: cosine`` bounds the logits for features of large norm). Classification only.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from g2d.data.base import MultimodalDataset
from g2d.methods._unimodal import replace_logits, weighted_sum
from g2d.methods.base import METHODS, Method, MethodContext
from g2d.model import ModelOutput, MultimodalModel
from g2d.modulators.base import StepState
from g2d.objectives import task_objective
from g2d.registry import ExperimentContext, Options
from g2d.validation import ConfigError

if TYPE_CHECKING:
    from g2d.step import StepRunner


class DIMMLOptions(Options):
    weight: float = Field(1.0, ge=0, description="weight w of the shared-classifier loss")
    duc_weight: float = Field(1.0, ge=0, description="weight of the DUC loss")
    duc_start: float = Field(0.15, ge=0, le=1, description="fraction of the student epochs after which the "
                             "effective dimensions are chosen and DUC starts (official: epoch 20 of 150)")
    temperature: float = Field(1.0, gt=0, description="DUC temperature τ")
    similarity: Literal["dot", "cosine"] = Field("dot", description="DUC similarity: dot (official) | cosine")
    certainty_temperature: float = Field(1.0, gt=0, description="T in the test-time weights softmax(max p / T)")

    def check_against(self, context: ExperimentContext) -> None:
        if context.task != "classification":
            raise ValueError(f"DI-MML's shared classifier, per-class dimension selection and certainty "
                             f"weighting need a classification task, got task {context.task!r}")


@torch.no_grad()
def effective_dimensions(features: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """Boolean (D,): dimensions whose nearest-class-mean recognition rate beats the average."""
    target = target.long()
    counts = torch.bincount(target, minlength=num_classes).clamp_min(1).float()
    means = torch.zeros(num_classes, features.shape[1], device=features.device).index_add_(0, target, features)
    means = means / counts[:, None]  # (C, D)
    nearest = (features[:, None, :] - means[None]).abs().argmin(1)  # (N, D)
    rate = (nearest == target[:, None]).float().mean(0)  # (D,)
    return rate > rate.mean()


def duc_loss(student: Tensor, teacher: Tensor, temperature: float, similarity: str = "dot") -> Tensor:
    """One-way InfoNCE: row i of ``student`` must match row i of ``teacher`` (no gradient to teacher)."""
    teacher = teacher.detach()
    if similarity == "cosine":
        student, teacher = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
    logits = student.float() @ teacher.float().T / temperature
    return F.cross_entropy(logits, torch.arange(student.shape[0], device=student.device))


class DIMMLMethod(Method):
    def __init__(self, context: MethodContext, options: DIMMLOptions) -> None:
        super().__init__(task_objective(context.task))
        model = context.model
        widths = set(model.fusion.feature_dims.values())
        if len(widths) != 1:
            raise ConfigError(f"method 'di-mml': the shared classifier and the dimension-wise contrast need "
                              f"equal feature widths, got {dict(model.fusion.feature_dims)}; set the encoders' "
                              f"out_dim to one value")
        self.options, self.train_data = options, context.train_data
        self.modalities = model.modalities
        self.shared = nn.Linear(widths.pop(), model.fusion.num_outputs)
        self.start_epoch = round(options.duc_start * context.epochs)
        self.dims: dict[str, Tensor] | None = None  # boolean masks E_m
        self.bind_eval_output(model)

    def param_groups(self, model: MultimodalModel, lr: float) -> list[dict[str, Any]]:
        """The model's parameters plus the training-only shared classifier (moved to the model's device)."""
        self.shared.to(next(model.parameters()).device)
        return super().param_groups(model, lr) + [{"params": list(self.shared.parameters()), "lr": lr}]

    # ---- DUC ---------------------------------------------------------------------------------
    @torch.no_grad()
    def choose_dimensions(self, model: MultimodalModel, device: torch.device, batch_size: int = 256) -> None:
        from g2d.data.loader import make_loader

        if self.train_data is None:
            raise RuntimeError("DI-MML needs the training split to choose effective dimensions (context.train_data)")
        was_training = model.training
        model.eval()
        feats: dict[str, list[Tensor]] = {m: [] for m in self.modalities}
        targets = []
        for batch in make_loader(self.train_data, batch_size, shuffle=False):
            batch = batch.to(device)
            for m, f in model.encode(batch.inputs, masks=batch.masks).items():
                feats[m].append(f.float())
            targets.append(batch.target)
        model.train(was_training)
        target = torch.cat(targets)
        classes = self.train_data.info.num_classes
        self.dims = {m: effective_dimensions(torch.cat(f), target, classes) for m, f in feats.items()}

    def transfer_pairs(self) -> list[tuple[str, str, Tensor]]:
        """(source a, target b, indices of D_ab = E_a minus E_b) for every ordered pair with D_ab ≠ ∅."""
        pairs = []
        for a in self.modalities:
            for b in self.modalities:
                if a != b:
                    index = (self.dims[a] & ~self.dims[b]).nonzero().squeeze(1)
                    if index.numel():
                        pairs.append((a, b, index))
        return pairs

    def duc(self, features: dict[str, Tensor]) -> Tensor:
        opts = self.options
        terms = []
        for a, b, idx in self.transfer_pairs():
            idx = idx.to(features[b].device)
            terms.append(duc_loss(features[b][:, idx], features[a][:, idx], opts.temperature, opts.similarity))
        return torch.stack(terms).sum() if terms else features[self.modalities[0]].new_zeros(())

    # ---- training ----------------------------------------------------------------------------
    def losses(self, output: ModelOutput, target: Tensor, epoch: int) -> dict[str, Tensor]:
        target = target.long()
        terms = {f"own_{m}": F.cross_entropy(output.modality_logits[m], target) for m in self.modalities}
        shared = [F.cross_entropy(self.shared(output.features[m]), target) for m in self.modalities]
        terms["shared"] = self.options.weight * torch.stack(shared).sum()
        if self.dims is not None and epoch >= self.start_epoch:
            terms["duc"] = self.options.duc_weight * self.duc(output.features)
        return terms

    def training_step(self, runner: "StepRunner", state: StepState) -> dict[str, Tensor]:
        if self.dims is None and state.epoch >= self.start_epoch:
            self.choose_dimensions(runner.model, runner.device)
        state.active = self.select_active(state)
        with runner.autocast():
            state.output = runner.model(state.batch.inputs, state.active, state.batch.masks)
            terms = self.losses(state.output, state.batch.target, state.epoch)
            loss = torch.stack(list(terms.values())).sum()
        runner.backward(loss, state, self.modulators)
        runner.optimizer_step(state, self.modulators)
        return terms

    # ---- test time ---------------------------------------------------------------------------
    def certainty_weights(self, modality_logits: dict[str, Tensor]) -> Tensor:
        """(M, B): softmax over modalities of each modality's max class probability / T."""
        certainty = torch.stack([torch.softmax(z.float(), -1).amax(-1) for z in modality_logits.values()])
        return torch.softmax(certainty / self.options.certainty_temperature, dim=0)

    def eval_output(self, output: ModelOutput) -> ModelOutput:
        weights = self.certainty_weights(output.modality_logits)
        return replace_logits(output, weighted_sum(output.modality_logits, weights))

    def state_dict(self) -> dict[str, Any]:
        dims = {m: d.cpu() for m, d in self.dims.items()} if self.dims is not None else None
        shared = {k: v.detach().cpu() for k, v in self.shared.state_dict().items()}
        return {**super().state_dict(), "dims": dims, "shared": shared}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.dims = state.get("dims")
        if state.get("shared"):
            self.shared.load_state_dict(state["shared"])  # copies into the existing (device) tensors


@METHODS.register("di-mml", options=DIMMLOptions)
def di_mml(options: DIMMLOptions, context: MethodContext) -> Method:
    """DI-MML (Fan et al. 2024): detached per-modality objectives, a shared classifier, one-way
    dimension-wise contrast (DUC), certainty-weighted logits at test time."""
    return DIMMLMethod(context, options)

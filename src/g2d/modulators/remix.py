"""Data Remixing (Ma, Chen & Deng, ICML 2025, "Improving Multimodal Learning Balance and
Sufficiency through Data Remixing"), as a modulator that composes onto any method with the
default step: ``joint+remix``, ``g2d+remix``, ``umt+remix`` (the method ``remix`` is the paper's
recipe, see :mod:`g2d.methods.remix`).

Decoupling: after ``warmup`` (a fraction of the student epochs; the paper: 10 of 60), at the start
of every epoch each training sample i is assigned to ONE modality, the one whose unimodal
prediction ``p^m_i = softmax(z_s^m(x_i))`` (eval mode, no gradient, one pass over the training
split) is closest to uniform:

    a_i = argmin_m KL(p^m_i ‖ U) = argmin_m Σ_c p^m_ic · log(C · p^m_ic)

— the sample is given to the modality that has learnt it least. Reassembly: every batch the
loader yields is split into single-modality sub-batches (the samples assigned to m), and each
sub-batch is one step of its own: forward with every *other* modality's features replaced by zeros
(the paper zeroes the features after the encoders, so the fused head sees modality m alone),
backward, optimiser step; only encoder m learns in it (the others run without autograd). Teacher
outputs of a sub-batch are the batch's rows, so distillation terms keep working (``g2d+remix``).

Decided where the paper is silent or differs from our trainer:

* The official code reassembles the whole epoch: all of modality A's samples in batches of 64,
  then all of B's. We split each loader batch instead (sub-batches of about B/M samples, one
  optimiser step each), which keeps the trainer's one loader and its per-epoch seeds (runs stay
  reproducible and resumable) at the price of smaller, more numerous steps.
* A sub-batch of a single sample is left out of its step (its sample waits for the next epoch's
  assignment) whenever the batch has a larger sub-batch to step: batch norm cannot train on one
  sample, and the trainer drops a one-sample last batch for the same reason. The number left out is
  logged per epoch (``modulators.remix.left_out``); on a batch of size B it is at most M − 1.
* The assignment uses the training split without augmentation (the official code reads the
  training list through its evaluation transform).
* Any number of modalities (argmin over M); classification only (a divergence from the uniform
  class distribution). Not under DDP (ranks would step a different number of sub-batches).
* Composes only onto methods with the default step (their objective on the fused output); a
  method with its own step (MLA, ReconBoost, …) is refused with a clear error.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch
from pydantic import Field
from torch import Tensor

from g2d import distributed
from g2d.data.base import Batch, MultimodalDataset
from g2d.modulators.base import MODULATORS, Modulator, ModulatorContext, StepState
from g2d.registry import ExperimentContext, Options
from g2d.scoring import confidence_means
from g2d.validation import ConfigError


class RemixOptions(Options):
    warmup: float = Field(1 / 6, ge=0, lt=1, description="fraction of the student epochs trained jointly before "
                          "the first reassignment, at least one epoch unless 0 (paper: 10 of 60 epochs)")

    def check_against(self, context: ExperimentContext) -> None:
        if context.task != "classification":
            raise ValueError(f"remix assigns samples by the divergence of class distributions from uniform and "
                             f"needs a classification task, got task {context.task!r}")
        if len(context.modalities) < 2:
            raise ValueError(f"remix reassigns samples between modalities and needs at least 2, got "
                             f"{list(context.modalities)}")


def divergence_from_uniform(logits: Tensor) -> Tensor:
    """Per-sample ``KL(softmax(z) ‖ U) = Σ_c p_c log(C p_c)``: (B, C) -> (B,), in nats."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return (logp.exp() * (logp + math.log(logits.shape[-1]))).sum(-1)


def assign_modalities(modality_logits: dict[str, Tensor]) -> Tensor:
    """Index (in the dict's order) of the modality whose prediction is closest to uniform, per sample."""
    return torch.stack([divergence_from_uniform(z) for z in modality_logits.values()]).argmin(0)


def slice_batch(batch: Batch, rows: Tensor) -> Batch:
    """The rows ``rows`` (host indices) of ``batch``, on the batch's devices."""
    def take(t: Tensor) -> Tensor:
        return t[rows.to(t.device)]

    return Batch({m: take(x) for m, x in batch.inputs.items()}, take(batch.target), take(batch.index),
                 {m: take(x) for m, x in batch.masks.items()})


def slice_state(state: StepState, rows: Tensor, focus: str) -> StepState:
    """The step state of the sub-batch ``rows``: its teachers' rows and ρ, its one modality ``focus``."""
    from g2d.objectives import TeacherOutputs

    teacher, rho, confidence = state.teacher, state.teacher_rho, state.confidence
    if teacher is not None:
        on = lambda t: t[rows.to(t.device)]  # noqa: E731
        teacher = TeacherOutputs({m: on(z) for m, z in teacher.logits.items()},
                                 {m: on(f) for m, f in teacher.features.items()})
    if rho is not None:
        rho = rho[:, rows.to(rho.device)]
        confidence = confidence_means(rho, state.modalities)
    return replace(state, batch=slice_batch(state.batch, rows), teacher=teacher, teacher_rho=rho,
                   confidence=confidence, active=None, output=None, focus=focus)


def narrow_state(state: StepState, rows: Tensor) -> None:
    """Keep only the batch rows ``rows`` in ``state`` (in place), so that the step's gathered outputs,
    its teachers' rows and its confidences describe the same samples."""
    narrowed = slice_state(state, rows, state.focus)
    state.batch, state.teacher = narrowed.batch, narrowed.teacher
    state.teacher_rho, state.confidence = narrowed.teacher_rho, narrowed.confidence


class DataRemixing(Modulator):
    """Per-sample modality assignment each epoch after the warm-up; single-modality sub-steps."""

    needs_default_step = True

    def __init__(self, modalities: tuple[str, ...], epochs: int, warmup: float, model: Any,
                 train_data: MultimodalDataset | None) -> None:
        if train_data is None:
            raise ValueError("remix needs the training split to assign samples (context.train_data)")
        self.modalities, self.model, self.train_data = modalities, model, train_data
        self.start_epoch = max(1, round(warmup * epochs)) if warmup > 0 else 0  # a warm-up is >= 1 epoch
        self.assignment: Tensor | None = None  # (N,) modality index per training sample
        self.assigned_epoch: int | None = None
        self.silenced: frozenset[str] = frozenset()
        self.counts: dict[str, int] = {}
        self.left_out = 0  # one-sample sub-batches left out of their step this epoch
        for m in modalities:  # zero the features of the modalities a sub-step leaves out
            model.encoders[m].register_forward_hook(self._silence_hook(m))

    def _silence_hook(self, modality: str):
        def hook(module: torch.nn.Module, args: Any, output: Tensor) -> Tensor | None:
            return torch.zeros_like(output) if modality in self.silenced else None
        return hook

    @torch.no_grad()
    def reassign(self, device: torch.device, batch_size: int = 256) -> None:
        """One eval-mode pass over the training split: each sample's modality closest to uniform."""
        from g2d.data.loader import make_loader

        model = self.model
        was_training = model.training
        model.eval()
        assignment = torch.zeros(len(self.train_data), dtype=torch.long)
        for batch in make_loader(self.train_data, batch_size, shuffle=False):
            batch = batch.to(device)
            out = model(batch.inputs, masks=batch.masks)
            chosen = assign_modalities({m: out.modality_logits[m] for m in self.modalities})
            assignment[batch.index.cpu()] = chosen.cpu()
        model.train(was_training)
        self.assignment = assignment
        counts = torch.bincount(assignment, minlength=len(self.modalities)).tolist()
        self.counts = dict(zip(self.modalities, counts))
        self.left_out = 0

    def split_batch(self, state: StepState) -> list[StepState] | None:
        if state.epoch < self.start_epoch:
            return None
        if distributed.current().enabled:
            raise ConfigError("remix splits each batch into per-modality sub-steps, whose number differs between "
                              "ranks; it does not run under DDP (torchrun): train on one process")
        if self.assigned_epoch != state.epoch:
            self.reassign(state.batch.target.device)
            self.assigned_epoch = state.epoch
        chosen = self.assignment[state.batch.index.cpu()]
        groups = {m: (chosen == j).nonzero().squeeze(1) for j, m in enumerate(self.modalities)}
        groups = {m: rows for m, rows in groups.items() if rows.numel()}
        lone = [m for m, rows in groups.items() if rows.numel() == 1]
        leave_out = bool(lone) and len(lone) < len(groups)  # a larger sub-batch remains to step
        if leave_out:
            self.left_out += len(lone)
            groups = {m: rows for m, rows in groups.items() if m not in lone}
        parts = [slice_state(state, rows, m) for m, rows in groups.items()]  # rows of the whole batch
        if leave_out:
            narrow_state(state, torch.cat(list(groups.values())).sort().values)
        return parts

    def on_before_forward(self, state: StepState) -> None:
        self.silenced = frozenset(m for m in self.modalities if m != state.focus) if state.focus else frozenset()

    def select_active(self, state: StepState) -> frozenset[str] | None:
        return frozenset({state.focus}) if state.focus else None

    def on_after_backward(self, state: StepState) -> None:
        self.silenced = frozenset()  # the features only go silent inside a sub-step's forward

    def epoch_summary(self) -> dict[str, Any]:
        return {"remix": {"assigned": dict(self.counts), "left_out": self.left_out}} if self.counts else {}

    def state_dict(self) -> dict[str, Any]:
        return {"assignment": self.assignment, "assigned_epoch": self.assigned_epoch, "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.assignment, self.assigned_epoch = state.get("assignment"), state.get("assigned_epoch")
        self.counts = dict(state.get("counts") or {})


def build_remix(options: RemixOptions, context: ModulatorContext) -> DataRemixing:
    return DataRemixing(context.modalities, context.epochs, options.warmup, context.model,
                        getattr(context, "train_data", None))


@MODULATORS.register("remix", options=RemixOptions)
def remix(options: RemixOptions, context: ModulatorContext) -> DataRemixing:
    """Data Remixing: each sample reassigned every epoch to the modality whose prediction is closest
    to uniform; single-modality sub-batches, the other modalities' features zeroed."""
    return build_remix(options, context)

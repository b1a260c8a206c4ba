"""InfoReg, adaptive unimodal regulation (Huang et al., CVPR 2025, "Adaptive Unimodal Regulation for
Balanced Multimodal Information Acquisition").

The paper's observation: early in training each modality has a *prime learning window* in which it
acquires information fastest; the information-rich modality uses its window first and the others
never catch up. InfoReg slows the information-rich modality down while it is in its window, so the
other modalities acquire information in the meantime.

* **Objective**: ``L_task(z_s, y) + Σ_m L_task(z_s^m, y)`` (the fused and every unimodal loss,
  as the official code backpropagates all three).
* **Information acquisition** of modality m: the trace of its encoder's Fisher information over an
  epoch, estimated as in the official code by ``tr_m(e) = Σ_W mean(Σ_steps (∂L/∂W)²)`` over the
  encoder's weight tensors (2-D and larger). With ``S_m(e)`` the sum of the last ``window``
  traces, the acquisition rate is ``k_m = (S_m(e) − S_m(e−1)) / S_m(e)``; modality m is in its
  prime learning window while ``k_m > threshold`` (official: window 10 epochs, threshold 0.04;
  the first epoch always is).
* **Information-rich modality** of a batch: its score ``s_m = Σ_i p^m_{i,y_i}`` (the batch sum of
  the unimodal true-class probability) exceeds the mean score of the others by
  ``gap = s_m − mean_{k≠m} s_k > 0``.
* **Regulation**: for such a modality inside its window, its encoder's gradient gets a proximal term
  towards its parameters at the start of the epoch, ``∇θ_m += β (θ_m − θ_m^{epoch start})`` with
  ``β = β_0 · exp(tanh(gap))`` (β_0 = 0.95) — the update is pulled back, the modality learns
  more slowly this epoch.

Decided where the paper or its code is silent: the official code tracks the Fisher trace of one
modality (audio) only and regulates only it (its second branch can never run); we track every
modality's own trace and regulate any modality that is both ahead and inside its own window — for
M = 2 and the audio-dominant CREMA-D this is the official rule. For M > 2 the gap is to the mean of
the other modalities (as OGM's ``reference: mean``). Classification only (the score is a class
probability).
"""
from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import Tensor

from g2d.methods.base import METHODS, Method, MethodContext
from g2d.methods.mses import multitask_objective
from g2d.model import MultimodalModel
from g2d.modulators.base import Modulator, StepState
from g2d.registry import ExperimentContext, Options
from g2d.scoring import true_label_confidence


class InfoRegOptions(Options):
    beta: float = Field(0.95, ge=0, description="β_0 in the regulation strength β = β_0·exp(tanh(gap))")
    threshold: float = Field(0.04, ge=0, description="a modality is in its prime learning window while its "
                             "Fisher-trace growth rate k_m exceeds this (official 0.04)")
    window: int = Field(10, gt=0, description="epochs summed in the Fisher-trace growth rate (official 10)")

    def check_against(self, context: ExperimentContext) -> None:
        if context.task != "classification":
            raise ValueError(f"InfoReg scores modalities by their true-class probability and needs a "
                             f"classification task, got task {context.task!r}")


def growth_rate(traces: list[float], window: int) -> float:
    """``k = (S(e) − S(e−1)) / S(e)`` with ``S(e)`` the sum of the last ``window`` traces (1 before any)."""
    if not traces:
        return 1.0
    now = sum(traces[-window:])
    before = sum(traces[-window - 1:-1])
    return (now - before) / now if now > 0 else 0.0


def regulation_strengths(scores: dict[str, Tensor], in_window: dict[str, bool], beta: float) -> dict[str, Tensor]:
    """β per modality: ``β_0·exp(tanh(gap))`` where the modality leads the mean of the others and is
    in its window, else 0."""
    out = {}
    for m, s in scores.items():
        others = torch.stack([scores[k] for k in scores if k != m]).mean()
        gap = s - others
        out[m] = torch.where((gap > 0) & torch.tensor(in_window[m], device=gap.device),
                             beta * torch.exp(torch.tanh(gap)), torch.zeros_like(gap))
    return out


class PrimeWindowRegulation(Modulator):
    """Tracks each encoder's Fisher trace and pulls the leading encoder back to its epoch-start
    parameters while it is inside its prime learning window."""

    def __init__(self, model: MultimodalModel, options: InfoRegOptions) -> None:
        self.options = options
        self.params = {m: [p for p in model.encoders[m].parameters() if p.requires_grad] for m in model.modalities}
        self.weights = {m: [p for p in ps if p.dim() >= 2] for m, ps in self.params.items()}
        self.anchor: dict[str, list[Tensor]] | None = None  # θ_m at the start of this epoch
        self.anchor_epoch: int | None = None
        self.fisher: dict[str, list[Tensor]] | None = None  # Σ_steps grad² per weight tensor
        self.traces: dict[str, list[float]] = {m: [] for m in self.params}
        self.regulated_steps = {m: 0 for m in self.params}

    def in_window(self) -> dict[str, bool]:
        return {m: growth_rate(t, self.options.window) > self.options.threshold for m, t in self.traces.items()}

    def on_before_optimizer_step(self, state: StepState, optimizer: torch.optim.Optimizer) -> None:
        if self.anchor_epoch != state.epoch:  # θ^{epoch start}: the parameters before this epoch's first update
            self.anchor = {m: [p.detach().clone() for p in ps] for m, ps in self.params.items()}
            self.anchor_epoch = state.epoch
        if state.output is None:
            raise RuntimeError("InfoReg needs the student's per-modality outputs; the step has none")
        target = state.batch.target
        scores = {m: true_label_confidence(z.detach(), target, state.task).float().sum()
                  for m, z in state.output.modality_logits.items()}
        beta = regulation_strengths(scores, self.in_window(), self.options.beta)
        for m, ps in self.params.items():
            b = beta[m]
            for p, p0 in zip(ps, self.anchor[m]):
                if p.grad is not None:
                    p.grad.add_((b * (p.detach() - p0)).to(p.grad.dtype))
            self.regulated_steps[m] += int(bool(b > 0))
        with torch.no_grad():  # the Fisher trace of the epoch, from the gradient the optimiser uses
            if self.fisher is None:
                self.fisher = {m: [torch.zeros_like(w, dtype=torch.float32) for w in ws] for m, ws in self.weights.items()}
            for m, ws in self.weights.items():
                for acc, w in zip(self.fisher[m], ws):
                    if w.grad is not None:
                        acc.add_(w.grad.float().pow(2))

    def on_epoch_end(self, epoch: int, val_metrics: dict[str, Any]) -> None:
        if self.fisher is not None:
            for m, accs in self.fisher.items():
                self.traces[m].append(float(sum(a.mean() for a in accs)) if accs else 0.0)
        self.fisher = None

    def epoch_summary(self) -> dict[str, Any]:
        rates = {m: round(growth_rate(t, self.options.window), 4) for m, t in self.traces.items()}
        summary = {"inforeg": {"regulated_steps": dict(self.regulated_steps), "growth_rate": rates}}
        self.regulated_steps = {m: 0 for m in self.regulated_steps}
        return summary

    def state_dict(self) -> dict[str, Any]:
        return {"traces": {m: list(t) for m, t in self.traces.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.traces = {m: [float(v) for v in t] for m, t in (state.get("traces") or self.traces).items()}


@METHODS.register("inforeg", options=InfoRegOptions)
def inforeg(options: InfoRegOptions, context: MethodContext) -> Method:
    """InfoReg (Huang et al. 2025): fused + unimodal losses; the leading modality is pulled back to
    its epoch-start parameters while inside its prime learning window (Fisher-trace growth)."""
    return Method(multitask_objective(context.task, 1.0), [PrimeWindowRegulation(context.model, options)])


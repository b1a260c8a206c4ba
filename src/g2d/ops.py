"""Softmax-family kernels the losses and confidence scores share, fast for few classes on the CPU.

PyTorch's CPU (log-)softmax over the last dimension vectorises across classes: with fewer classes
than one SIMD register holds (16 fp32 lanes with AVX-512, 8 with AVX2) it falls back to a scalar
loop that costs several times more (AVX-512, 819×10 log-softmax: 106 µs; the same rows padded to 16
classes: 19 µs; 1 thread). Most multimodal benchmarks have 2–10 classes and the G2D loss runs
several such softmaxes per step, so on small students this loop was a large share of G2D's extra
cost. Padding the classes with −inf up to a register's width gives the same values (the padded
columns have probability 0) on the fast path.

Where padding pays depends on the vector kernels PyTorch dispatches to
(``torch.backends.cpu.get_cpu_capability()``, which ``ATEN_CPU_CAPABILITY`` can lower): the
:data:`PAD_RULES` table, measured forward and backward together on one thread (docs/results/speed.md),
is read once, at import (:data:`PAD_RULE`). With fewer classes than the rule's ``min_classes`` or
fewer elements than its ``min_elements`` the pad and slice cost more than they save (AVX2: only
classes 3–7 gain, padded to 8; padding AVX2 rows to 16 never paid); without SIMD kernels
(``DEFAULT``) padding never paid; GPUs need none of it.

:func:`distill_terms` is G2D's feature and per-modality KL terms over the stacked (M, B, ·) tensors
as one autograd node: forward and gradients of both in one pass, instead of a dozen small
operations forward and as many backward.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class PadRule:
    """Pad the classes to ``lanes`` (None: never) when ``min_classes <= C < lanes`` and the logits
    have at least ``min_elements`` elements."""

    lanes: int | None
    min_classes: int = 3
    min_elements: int = 2048

    def applies(self, classes: int, elements: int) -> bool:
        return self.lanes is not None and self.min_classes <= classes < self.lanes and elements >= self.min_elements


# by torch.backends.cpu.get_cpu_capability(); any other (no SIMD kernels, other ISAs): never pad
PAD_RULES = {"AVX512": PadRule(16, 3, 2048), "AVX2": PadRule(8, 3, 3072)}
NO_PAD = PadRule(None)


def pad_rule_for(capability: str) -> PadRule:
    """The padding rule for PyTorch's vector kernels of ``capability`` (``get_cpu_capability()``)."""
    return PAD_RULES.get(capability, NO_PAD)


PAD_RULE = pad_rule_for(torch.backends.cpu.get_cpu_capability())  # this process's kernels, chosen once


def log_softmax(logits: Tensor) -> Tensor:
    """``F.log_softmax(logits, -1)``; on the CPU with few classes, computed on the fast path (:data:`PAD_RULE`)."""
    classes = logits.shape[-1]
    rule = PAD_RULE
    if logits.device.type != "cpu" or not rule.applies(classes, logits.numel()):
        return F.log_softmax(logits, dim=-1)
    padded = F.pad(logits, (0, rule.lanes - classes), value=float("-inf"))
    return F.log_softmax(padded, dim=-1)[..., :classes]


def true_label_log_probability(logits: Tensor, target: Tensor) -> Tensor:
    """``log softmax(z)[y]`` per sample: logits (..., B, C) against class indices (B,) -> (..., B)."""
    return pick_true_label(log_softmax(logits), target)


def pick_true_label(values: Tensor, target: Tensor) -> Tensor:
    """``values[..., b, y_b]``: each sample's entry at its class, (..., B, C) -> (..., B)."""
    index = target.long().reshape(*[1] * (values.dim() - 2), -1, 1).expand(*values.shape[:-1], 1)
    return values.gather(-1, index).squeeze(-1)


def kl_to_targets(logits: Tensor, target_log_probs: Tensor) -> Tensor:
    """``Σ KL(p ‖ softmax(z))`` summed over every sample (and every stacked target), where
    ``target_log_probs = log p`` carries no gradient: :func:`kl_between` of ``log_softmax(z)``."""
    return kl_between(log_softmax(logits), target_log_probs)


def kl_between(log_q: Tensor, target_log_probs: Tensor) -> Tensor:
    """``Σ KL(p ‖ q)`` from log-probabilities; ``log_q`` is (B, C), broadcast against targets
    (M, B, C) (its gradient sums over M), or (M, B, C) like them. ``F.kl_div`` with a shape check."""
    if target_log_probs.dim() not in (log_q.dim(), log_q.dim() + 1) or \
            target_log_probs.shape[-log_q.dim():] != log_q.shape:
        raise ValueError(f"kl_to_targets: logits {tuple(log_q.shape)} do not match targets "
                         f"{tuple(target_log_probs.shape)}; expected (B, C) or (M, B, C) against (M, B, C)")
    return F.kl_div(log_q.expand_as(target_log_probs), target_log_probs.detach(), log_target=True, reduction="sum")


class _DistillTerms(torch.autograd.Function):
    """Forward and backward of :func:`distill_terms` (inputs: the students' features, then logits)."""

    @staticmethod
    def forward(ctx, teacher_features: Tensor, teacher_log_probs: Tensor, alpha: float, gamma: float,
                m: int, *students: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        features, logits = students[:m], students[m:]
        _, batch, width = teacher_features.shape
        diff = torch.stack(features).float().sub_(teacher_features)  # (M, B, D)
        flat = diff.view(-1)
        feat = torch.dot(flat, flat) * (alpha / (batch * width))
        log_q = log_softmax(torch.stack(logits).float())  # (M, B, C)
        p = teacher_log_probs.exp()
        own = torch.dot(p.view(-1), (teacher_log_probs - log_q).view(-1)) * (gamma / batch)
        ctx.save_for_backward(diff, log_q, p)
        ctx.scales = (2 * alpha / (batch * width), gamma / batch)
        ctx.dtypes = [s.dtype for s in students]
        ctx.mark_non_differentiable(log_q)
        return feat, own, log_q

    @staticmethod
    def backward(ctx, g_feat: Tensor, g_own: Tensor, _: Tensor | None) -> tuple[Tensor | None, ...]:
        diff, log_q, p = ctx.saved_tensors
        m = diff.shape[0]
        need = ctx.needs_input_grad[5:]
        grads: list[Tensor | None] = [None] * (2 * m)
        if any(need[:m]):
            grads[:m] = (diff * (g_feat * ctx.scales[0])).unbind()
        if any(need[m:]):  # d KL(p ‖ softmax(z)) / dz = softmax(z) − p (Σ_c p = 1)
            grads[m:] = log_q.exp().sub_(p).mul_(g_own * ctx.scales[1]).unbind()
        grads = [g.to(dtype) if g is not None and n and g.dtype != dtype else (g if n else None)
                 for g, n, dtype in zip(grads, need, ctx.dtypes)]
        return (None, None, None, None, None, *grads)


def distill_terms(features: Sequence[Tensor], teacher_features: Tensor, logits: Sequence[Tensor],
                  teacher_log_probs: Tensor, alpha: float = 1.0, gamma: float = 1.0
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """G2D's feature term and per-modality KL as one autograd node, over M modalities at once:

    - ``α · Σ_m MSE(f_s^m, f_t^m)`` (features (B, D) per modality against the teachers' (M, B, D));
    - ``γ · Σ_m KL(p_t^m ‖ softmax(z_s^m)) / B`` (logits (B, C) per modality against the teachers'
      ``log p_t`` (M, B, C), at T = 1);
    - and the students' ``log_softmax(z_s^m)`` (M, B, C) without gradient (SMP's measurement reads it).

    The same numbers as :func:`kl_between` and a squared-error sum up to float rounding (summation
    order; the KL gradient is ``softmax(z) − p``, which autograd reaches as ``softmax(z)·Σp − p``).
    Computed in fp32 (gradients returned in each input's dtype); the teachers' side carries no gradient."""
    m = len(features)
    if len(logits) != m or teacher_features.shape[0] != m or teacher_log_probs.shape[0] != m:
        raise ValueError(f"distill_terms: {m} student features, {len(logits)} student logits, teachers "
                         f"{tuple(teacher_features.shape)} / {tuple(teacher_log_probs.shape)}: expected M of each")
    device = teacher_features.device.type
    args = (teacher_features.detach().float(), teacher_log_probs.detach().float(), alpha, gamma, m, *features, *logits)
    if torch.is_autocast_enabled(device):  # fp32 throughout, whatever autocast would pick
        with torch.autocast(device, enabled=False):
            return _DistillTerms.apply(*args)
    return _DistillTerms.apply(*args)

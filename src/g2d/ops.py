"""Softmax-family kernels the losses and confidence scores share, fast for few classes on the CPU.

PyTorch's CPU (log-)softmax over the last dimension vectorises across classes: with fewer classes
than one SIMD register holds (16 fp32 lanes with AVX-512) it falls back to a scalar loop that costs
about ten times more (1536×10 log-softmax: 199 µs against 19 µs for 1536×16, 1 thread). Most
multimodal benchmarks have 2–10 classes, and the G2D loss runs M + 1 such softmaxes per step, so on
small students this loop, not the model, made a G2D step 1.4–1.6× a joint one. Padding the classes
with −inf up to 16 gives the same values (the padded columns have probability 0) on the fast path.
Below :data:`PAD_MIN_ELEMENTS` the pad and slice cost more than they save, and GPUs need none of it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

SIMD_CLASSES = 16
PAD_MIN_ELEMENTS = 512


def log_softmax(logits: Tensor) -> Tensor:
    """``F.log_softmax(logits, -1)``; on the CPU with fewer than 16 classes, computed on the fast path."""
    classes = logits.shape[-1]
    if logits.device.type != "cpu" or classes >= SIMD_CLASSES or logits.numel() < PAD_MIN_ELEMENTS:
        return F.log_softmax(logits, dim=-1)
    padded = F.pad(logits, (0, SIMD_CLASSES - classes), value=float("-inf"))
    return F.log_softmax(padded, dim=-1)[..., :classes]


def true_label_log_probability(logits: Tensor, target: Tensor) -> Tensor:
    """``log softmax(z)[y]`` per sample: logits (..., B, C) against class indices (B,) -> (..., B)."""
    index = target.long().reshape(*[1] * (logits.dim() - 2), -1, 1).expand(*logits.shape[:-1], 1)
    return log_softmax(logits).gather(-1, index).squeeze(-1)


class _KLToTargets(torch.autograd.Function):
    """``Σ p · (log p − log_softmax(z))`` with the gradient ``Σ_broadcast (softmax(z) − p)`` written
    out: one softmax forward, no log-softmax or KL backward kernels (Σ_c p = 1 for every target)."""

    @staticmethod
    def forward(ctx, logits: Tensor, target_log_probs: Tensor) -> Tensor:  # type: ignore[override]
        log_q = log_softmax(logits.float())
        p = target_log_probs.exp()
        total = (p * (target_log_probs - log_q)).sum()
        ctx.save_for_backward(log_q, p)
        ctx.input_dtype = logits.dtype
        return total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        log_q, p = ctx.saved_tensors
        lead = p.dim() - log_q.dim()  # teachers stacked over M against one broadcast student
        q = log_q.exp() * p.shape[0] if lead else log_q.exp()
        diff = q - (p.sum(0) if lead else p)
        return (grad * diff).to(ctx.input_dtype), None


def kl_to_targets(logits: Tensor, target_log_probs: Tensor) -> Tensor:
    """``Σ KL(p ‖ softmax(z))`` summed over every sample (and every stacked target), where
    ``target_log_probs = log p`` carries no gradient. ``logits`` is (B, C), broadcast against targets
    (M, B, C) (its gradient sums over M), or (M, B, C) like them. Equals
    ``F.kl_div(log_softmax(z), log p, log_target=True, reduction="sum")`` up to float rounding."""
    if target_log_probs.dim() not in (logits.dim(), logits.dim() + 1) or \
            target_log_probs.shape[-logits.dim():] != logits.shape:
        raise ValueError(f"kl_to_targets: logits {tuple(logits.shape)} do not match targets "
                         f"{tuple(target_log_probs.shape)}; expected (B, C) or (M, B, C) against (M, B, C)")
    target_log_probs = target_log_probs.detach()
    if logits.device.type != "cpu" or logits.numel() < PAD_MIN_ELEMENTS:  # the Function's call costs more
        log_q = F.log_softmax(logits, dim=-1)
        return F.kl_div(log_q.expand_as(target_log_probs), target_log_probs, log_target=True, reduction="sum")
    return _KLToTargets.apply(logits, target_log_probs.float())

"""Softmax-family kernels the losses and confidence scores share, fast for few classes on the CPU.

PyTorch's CPU (log-)softmax over the last dimension vectorises across classes: with fewer classes
than one SIMD register holds (16 fp32 lanes with AVX-512) it falls back to a scalar loop that costs
about five times more (819×10 log-softmax: 106 µs; the same rows padded to 16 classes: 19 µs;
1 thread). Most multimodal benchmarks have 2–10 classes and the G2D loss runs several such
softmaxes per step, so on small students this loop was a large share of G2D's extra cost.
Padding the classes with −inf up to 16 gives the same values (the padded columns have probability 0)
on the fast path.
With fewer than :data:`PAD_MIN_CLASSES` classes (8× the work for 2) or :data:`PAD_MIN_ELEMENTS`
elements the pad and slice cost more than they save, forward and backward measured together
(2048×10: 44 µs against 60 µs, 1 thread); GPUs need none of it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

SIMD_CLASSES = 16
PAD_MIN_CLASSES, PAD_MIN_ELEMENTS = 3, 2048  # below either, the 16-wide pad and the slice cost more


def log_softmax(logits: Tensor) -> Tensor:
    """``F.log_softmax(logits, -1)``; on the CPU with fewer than 16 classes, computed on the fast path."""
    classes = logits.shape[-1]
    if logits.device.type != "cpu" or not PAD_MIN_CLASSES <= classes < SIMD_CLASSES \
            or logits.numel() < PAD_MIN_ELEMENTS:
        return F.log_softmax(logits, dim=-1)
    padded = F.pad(logits, (0, SIMD_CLASSES - classes), value=float("-inf"))
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

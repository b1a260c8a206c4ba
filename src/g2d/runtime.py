"""Device, precision, memory layout, compilation and seeding: resolved once, passed explicitly.

Everything that decides *where* and *how fast* a step runs lives here, so the trainer, the teacher
cache and the benchmarks share one definition:

- :func:`resolve_device` – ``auto | cpu | cuda | cuda:N | mps`` (under ``torchrun`` a bare
  ``cuda`` means this process's ``cuda:LOCAL_RANK``);
- :func:`autocast` / :func:`make_grad_scaler` – ``fp32 | bf16 | fp16`` mixed precision (a
  GradScaler only for fp16, whose small exponent range needs loss scaling);
- :func:`prepare_model` – channels-last weights for the CNNs and optional ``torch.compile`` of
  each encoder and the fusion head (in place, so checkpoints keep their parameter names);
- :func:`move_batch` – a non-blocking host→device copy (pinned host memory) that keeps the
  batch's sample indices on the host, where the teacher cache reads them without a device sync;
- :class:`RuntimeConfig` – all of these for one run, made once from the experiment config.
"""
from __future__ import annotations

import os
import random
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ContextManager

import numpy as np
import torch
from torch import nn

from g2d.validation import ConfigError

if TYPE_CHECKING:
    from g2d.config import ExperimentConfig
    from g2d.data.base import Batch

_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
PRECISIONS = tuple(_DTYPES)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an explicit device that is absent is an error.

    Inside a ``torchrun`` job (``LOCAL_RANK`` set) a CUDA device without an index becomes
    ``cuda:LOCAL_RANK``: one GPU per process.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return _local_cuda(torch.device("cuda"))
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device: expected auto, cpu, cuda, cuda:N or mps, got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but CUDA is not available on this machine")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"device: {name!r} requested but only {torch.cuda.device_count()} CUDA devices exist")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) is not None
                                     and torch.backends.mps.is_available()):
        raise ConfigError(f"device: {name!r} requested but MPS is not available on this machine")
    return _local_cuda(device)


def _local_cuda(device: torch.device) -> torch.device:
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def check_precision(device: torch.device, precision: str) -> None:
    """Refuse a precision the device cannot run, naming the field and what would work."""
    if precision not in _DTYPES:
        raise ConfigError(f"precision: expected one of {list(PRECISIONS)}, got {precision!r}")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"precision: bf16 requested but {torch.cuda.get_device_name(device)} does not "
                          "support it; use fp16 (with loss scaling) or fp32")


def autocast(device: torch.device, precision: str) -> ContextManager:
    """``torch.autocast`` in ``precision`` (``fp32``: no autocast at all)."""
    dtype = _DTYPES[precision]
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def make_grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler | None:
    """A dynamic loss scaler for fp16 (None otherwise: bf16 has fp32's exponent range)."""
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None


def has_conv(module: nn.Module) -> bool:
    return any(isinstance(m, (nn.Conv2d, nn.Conv3d)) for m in module.modules())


def prepare_model(model: nn.Module, device: torch.device, *, channels_last: bool = False,
                  compile: bool = False) -> nn.Module:
    """Move ``model`` to ``device``; channels-last weights when it has 2-D convolutions; compile
    each encoder and the fusion head in place (``nn.Module.compile``: parameter names and
    checkpoints are unchanged; a suppressed encoder's no-grad forward is its own graph)."""
    model.to(device)
    if channels_last and has_conv(model):
        model.to(memory_format=torch.channels_last)
    if compile:
        parts = list(getattr(model, "encoders", {}).values()) + [getattr(model, "fusion", None)]
        for part in [p for p in parts if p is not None] or [model]:
            part.compile()
    return model


def move_batch(batch: "Batch", device: torch.device, channels_last: bool = False) -> "Batch":
    """The batch on ``device`` (non-blocking from pinned memory); 4-D inputs in channels-last
    layout when asked; ``index`` stays where it was (the host), so reading the teacher cache by
    index needs no device→host copy."""
    blocking = device.type != "cuda"
    move = lambda t: t.to(device, non_blocking=not blocking)  # noqa: E731
    inputs = {m: move(x) for m, x in batch.inputs.items()}
    if channels_last:
        inputs = {m: x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x
                  for m, x in inputs.items()}
    return replace(batch, inputs=inputs, target=move(batch.target),
                   masks={m: move(x) for m, x in batch.masks.items()})


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (timing only; never in the training loop)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """A per-epoch seed, so an epoch's shuffling and dropout do not depend on earlier epochs
    having run in this process (which makes resume exact)."""
    return (seed * 1_000_003 + epoch * 7919) % 2**31


@dataclass(frozen=True)
class RuntimeConfig:
    """How a run executes, as opposed to what it learns (:class:`~g2d.config.TrainConfig`):
    batch sizes, device, precision, seed, loader workers, memory layout, compilation. Made from
    an experiment config once, by :meth:`from_experiment`, for every trainer of the run."""

    batch_size: int
    eval_batch_size: int = 256
    device: torch.device = torch.device("cpu")
    precision: str = "fp32"
    seed: int = 0
    num_workers: int = 0
    channels_last: bool = False
    compile: bool = False

    @classmethod
    def from_experiment(cls, config: "ExperimentConfig", device: torch.device | None = None) -> "RuntimeConfig":
        """The runtime ``config`` asks for; ``device`` when already resolved, else its ``device``."""
        return cls(batch_size=config.data.batch_size, eval_batch_size=config.data.eval_batch_size,
                   device=device if device is not None else resolve_device(config.device),
                   precision=config.precision, seed=config.seed, num_workers=config.data.num_workers,
                   channels_last=config.channels_last, compile=config.compile)

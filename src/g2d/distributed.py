"""Data-parallel training with ``torch.distributed``: DDP, launched by ``torchrun``.

``torchrun --nproc_per_node N -m g2d.cli train CONFIG --distributed`` (or any launch that sets
``WORLD_SIZE`` > 1) starts one process per GPU; each one builds the same model from the same seed,
reads its share of every epoch through a :class:`~torch.utils.data.DistributedSampler` (the
teacher cache is read by those indices, on each rank) and trains a
:class:`~torch.nn.parallel.DistributedDataParallel` copy that averages gradients. Nothing here is
home-made parallelism; this module only decides the few things SMP needs:

**Which encoders learn, step by step.** In an SMP phase the suppressed encoders run under
``torch.no_grad()``, so they are absent from the autograd graph. DDP is built with
``find_unused_parameters=True``: after each forward it walks the graph, marks the absent
parameters ready, and — because the unused set is the same on every rank — leaves a parameter
that no rank used with ``.grad = None`` (DDP's reducer skips globally-unused parameters when it
copies the averaged buckets back; checked by ``tests/test_distributed.py`` on this torch). The
optimiser then leaves those encoders bit-for-bit alone, as in a single process. The graph walk
costs a little per step; it is the price of a graph that changes between phases.

**The same ranking on every rank.** ρ^m is a batch mean; each rank sees a different local batch,
so ranking local means could pick a different encoder per rank, which would make that encoder
"used" on some ranks only (its averaged gradient would then mix real and zero contributions).
:func:`global_confidence` all-reduces ``(Σ ρ·n, n)`` and divides: every rank ranks the *global*
batch's ρ — exactly what a single process with the global batch computes. One small all-reduce
per step.

**Everything else.** BatchNorm buffers are broadcast from rank 0 (DDP's ``broadcast_buffers``) and
again before every evaluation (:func:`sync_buffers`), so every rank evaluates the same model on the
*full* validation and test sets and takes the same model-selection and early-stopping decision.
Only rank 0 writes files (:func:`is_main`); the others wait at a barrier where they need them.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Mapping

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from g2d.validation import ConfigError


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the job (a single process is rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when the environment describes a job of several processes (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def current() -> DistEnv:
    """The running job (rank 0 of 1 when no process group is initialised)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistEnv()
    rank = dist.get_rank()
    return DistEnv(rank, dist.get_world_size(), int(os.environ.get("LOCAL_RANK", rank)))


def is_main() -> bool:
    return current().is_main


def init(device: str = "auto", backend: str | None = None) -> DistEnv:
    """Join the job ``torchrun`` started (reads ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``…):
    NCCL for CUDA, gloo otherwise. A no-op when already joined or when there is one process."""
    if current().enabled or not launched_by_torchrun():
        return current()
    if not dist.is_available():
        raise ConfigError("--distributed: this torch build has no torch.distributed")
    missing = [v for v in ("RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise ConfigError(f"--distributed: environment lacks {missing}; launch with "
                          "`torchrun --nproc_per_node N -m g2d.cli train CONFIG --distributed`")
    use_cuda = device != "cpu" and not device.startswith("mps") and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend or ("nccl" if use_cuda else "gloo"))
    return current()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if current().enabled:
        dist.barrier()


@contextmanager
def main_first() -> Iterator[bool]:
    """Rank 0 runs the block first (e.g. builds a cache); the others run it after, once it exists.
    Yields whether this process is rank 0."""
    env = current()
    if env.enabled and not env.is_main:
        dist.barrier()
    yield env.is_main
    if env.enabled and env.is_main:
        dist.barrier()


def wrap(model: nn.Module, device: torch.device, find_unused: bool = True) -> nn.Module:
    """A DDP copy of ``model``; ``find_unused`` when steps may leave encoders out (SMP)."""
    ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return _DDP(model, device_ids=ids, find_unused_parameters=find_unused)


class _DDP(DistributedDataParallel):
    """DDP whose unknown attributes come from the wrapped model (``modalities``, ``encoders``…),
    so a method can read them from ``runner.model``. The *forward* must still go through the
    wrapper (``runner.model(...)``) for the gradients to be averaged."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def global_confidence(confidence: Mapping[str, Tensor], batch_size: int) -> dict[str, Tensor]:
    """ρ^m over the *global* batch: all-reduce ``(Σ_m ρ^m·n, n)`` in one call and divide."""
    env = current()
    if not env.enabled or not confidence:
        return dict(confidence)
    names = list(confidence)
    first = confidence[names[0]]
    packed = torch.stack([confidence[m].float() * batch_size for m in names]
                         + [torch.tensor(float(batch_size), device=first.device)])
    dist.all_reduce(packed)
    return {m: packed[i] / packed[-1] for i, m in enumerate(names)}


def reduction_device(device: torch.device) -> torch.device:
    """Where a job-wide reduction of figures held on ``device`` runs: that device under NCCL
    (GPU tensors only), the CPU otherwise."""
    env = current()
    return device if env.enabled and dist.get_backend() == "nccl" else torch.device("cpu")


def all_reduce_sums(sums: Mapping[str, Tensor | float], count: int,
                    device: torch.device | str = "cpu") -> tuple[dict[str, float], int]:
    """Sum per-rank totals (and the sample count) over the job; one call per epoch, for logging.
    ``device``: where the backend reduces (a CUDA device for NCCL)."""
    env = current()
    if not env.enabled:
        return {k: float(v) for k, v in sums.items()}, count
    names = list(sums)  # same order on every rank (same method, same code path)
    packed = torch.tensor([float(sums[k]) for k in names] + [float(count)], dtype=torch.float64,
                          device=device)
    dist.all_reduce(packed)
    return {k: float(packed[i]) for i, k in enumerate(names)}, int(packed[-1])


def sync_buffers(model: nn.Module) -> None:
    """Broadcast rank 0's buffers (BatchNorm running statistics) so every rank holds one model."""
    if current().enabled:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)

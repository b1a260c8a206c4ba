"""Compute cost of training (paper Table 10): time per training step and peak memory per epoch.

Time per step comes from the trainer's own log (``train_time_s / steps``: the training loop only,
without evaluation). Peak memory is measured by :class:`CostTracker`:

- CUDA: ``torch.cuda.max_memory_allocated`` (tensors the caching allocator handed out), reset
  every epoch;
- CPU: the process's peak resident set size. On Linux it is reset every epoch (``/proc/self/
  clear_refs``) and read from ``VmHWM``; elsewhere ``resource.getrusage`` gives the peak of the
  whole process lifetime (reported as such). RSS includes the Python interpreter and torch itself,
  so compare methods by their difference, not their ratio.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from g2d.trainer import Trainer

_CLEAR_REFS, _STATUS = Path("/proc/self/clear_refs"), Path("/proc/self/status")


class PeakMemory:
    """Peak memory since the last :meth:`reset`, in MiB, on ``device``."""

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.kind = self._kind()

    def _kind(self) -> str:
        if self.device.type == "cuda":
            return "cuda max_memory_allocated"
        if self.device.type == "cpu" and _STATUS.exists() and _CLEAR_REFS.exists():
            return "cpu peak RSS (per epoch)"
        return "process peak RSS (lifetime)"

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.kind.startswith("cpu"):
            try:
                _CLEAR_REFS.write_text("5")
            except OSError:  # not allowed here: fall back to the lifetime peak
                self.kind = "process peak RSS (lifetime)"

    def read(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        if self.kind.startswith("cpu"):
            for line in _STATUS.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        return peak / (2**20 if peak > 2**32 else 1024)


class CostTracker:
    """Epoch callback logging ``{"cost": {step_time_ms, peak_memory_mb, memory}}``.

    Put it *first* among the callbacks and its :attr:`resetter` *last*: the peak then covers
    training and evaluation of the epoch, not the other analyses.
    """

    def __init__(self, device: torch.device | str) -> None:
        self.memory = PeakMemory(device)
        self.memory.reset()
        self.resetter = _Reset(self.memory)

    def on_epoch_end(self, trainer: "Trainer", epoch: int, row: dict[str, Any]) -> dict[str, Any]:
        steps = max(int(row.get("steps", 0)), 1)
        return {"cost": {"step_time_ms": 1000.0 * float(row.get("train_time_s", 0.0)) / steps,
                         "peak_memory_mb": round(self.memory.read(), 3), "memory": self.memory.kind,
                         "device": str(trainer.device)}}


class _Reset:
    def __init__(self, memory: PeakMemory) -> None:
        self.memory = memory

    def on_epoch_end(self, trainer: "Trainer", epoch: int, row: dict[str, Any]) -> None:
        self.memory.reset()
        return None


def cost_summary(history: list[dict[str, Any]]) -> dict[str, Any]:
    """One method's cost from its log: median time per step over epochs (the first epoch is left
    out when there are others: it pays warm-up), and the largest per-epoch peak memory."""
    times = [1000.0 * r["train_time_s"] / r["steps"] for r in history if r.get("steps")]
    if len(times) > 1:
        times = times[1:]
    costs = [r.get("analysis", {}).get("cost") for r in history]
    costs = [c for c in costs if c]
    return {"step_time_ms": statistics.median(times) if times else None,
            "peak_memory_mb": max(c["peak_memory_mb"] for c in costs) if costs else None,
            "memory": costs[-1]["memory"] if costs else None,
            "device": costs[-1]["device"] if costs else None,
            "steps_per_epoch": history[-1].get("steps") if history else None}


def overhead(value: float | None, baseline: float | None) -> float | None:
    """Relative overhead in percent of ``value`` over ``baseline``."""
    if value is None or baseline is None or baseline == 0:
        return None
    return 100.0 * (value - baseline) / baseline

"""Optional TensorBoard logging: every numeric value of an epoch's log row as a scalar.

TensorBoard is not a dependency of g2d. When ``analysis.tensorboard`` is set but the package is
missing, :func:`tensorboard_callback` warns once and training goes on without it.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from g2d.trainer import Trainer

_SKIP = {"epoch", "selected", "num_samples", "steps"}


def flatten_scalars(row: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """``{"val": {"accuracy": 0.5}}`` -> ``("val/accuracy", 0.5)``; non-numbers are left out."""
    for key, value in row.items():
        if key in _SKIP:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten_scalars(value, name + "/")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield name, float(value)


class TensorBoardLogger:
    """Epoch callback writing scalars to ``<student folder>/tensorboard`` (or ``log_dir``)."""

    def __init__(self, writer_factory: Callable[[str], Any], log_dir: str | Path | None = None) -> None:
        self.writer_factory, self.log_dir = writer_factory, log_dir
        self.writer: Any = None

    def on_epoch_end(self, trainer: "Trainer", epoch: int, row: dict[str, Any]) -> None:
        if self.writer is None:
            where = self.log_dir or ((trainer.out_dir or Path("runs")) / "tensorboard")
            self.writer = self.writer_factory(str(where))
        for name, value in flatten_scalars(row):
            self.writer.add_scalar(name, value, epoch)
        self.writer.flush()
        return None


def tensorboard_callback(log_dir: str | Path | None = None) -> TensorBoardLogger | None:
    """A :class:`TensorBoardLogger`, or None (with a warning) when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        warnings.warn("analysis.tensorboard is set but the tensorboard package is not installed; "
                      "training goes on without TensorBoard logging (pip install tensorboard)",
                      RuntimeWarning, stacklevel=2)
        return None
    return TensorBoardLogger(lambda where: SummaryWriter(log_dir=where), log_dir)

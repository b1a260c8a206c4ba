"""Analyses of a run beyond accuracy (the paper's figures): per-epoch trackers and post-hoc tools."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from g2d.config import ExperimentConfig
    from g2d.data.base import DataSplits
    from g2d.teachers import Teacher
    from g2d.trainer import Callback


def epoch_callbacks(config: "ExperimentConfig", splits: "DataSplits", teachers: "dict[str, Teacher] | None",
                    device: "torch.device") -> "list[Callback]":
    """Trainer callbacks that log the configured per-epoch analyses under ``row["analysis"]``."""
    return []

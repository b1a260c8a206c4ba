"""Analyses of a run beyond accuracy (the paper's figures): per-epoch trackers and post-hoc tools.

- :mod:`.representations` – feature alignment, confidence ratio, modality gap (+ 2-D projection)
- :mod:`.missing` – robustness to missing modalities at test time
- :mod:`.cost` – time per step and peak memory
- :mod:`.logs` – what a training log says (SMP phases, curves)
- :mod:`.posthoc` – all of the above at a run's selected checkpoints, on the test split
- :mod:`.tensorboard` – optional TensorBoard logging
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from g2d.config import ExperimentConfig
    from g2d.data.base import DataSplits
    from g2d.teachers import Teacher
    from g2d.trainer import Callback


def epoch_callbacks(config: "ExperimentConfig", splits: "DataSplits", teachers: "dict[str, Teacher] | None",
                    device: "torch.device") -> "list[Callback]":
    """Trainer callbacks that log the configured per-epoch analyses under ``row["analysis"]``:
    ``cost`` (always), the representation analyses on ``config.analysis.split`` (alignment and
    confidence ratio only with teachers), and TensorBoard when asked for and installed."""
    from g2d.analysis.cost import CostTracker
    from g2d.analysis.representations import RepresentationTracker
    from g2d.analysis.tensorboard import tensorboard_callback

    opts = config.analysis
    cost = CostTracker(device)
    dataset = splits.val if opts.split == "val" else splits.test
    callbacks: list = [cost, RepresentationTracker(dataset, teachers, device, opts.split, opts.every)]
    if opts.tensorboard:
        board = tensorboard_callback()
        if board is not None:
            callbacks.append(board)
    callbacks.append(cost.resetter)
    return callbacks

"""The data set registry: ``@DATASETS.register("name", options=Opts)`` on a ``build(options)``."""
from __future__ import annotations

from typing import Callable

from g2d.data.base import DataSplits
from g2d.registry import Options, Registry

DATASETS: Registry[Callable[..., DataSplits]] = Registry("data set")


class DatasetOptions(Options):
    """Options every loader shares; loaders subclass it and must name their modalities."""

    val_fraction: float = 0.1  # carved from train (seeded, stratified) when the data has no val split
    split_seed: int = 0

    def modality_names(self) -> list[str]:
        """The modalities this data set will have, known without reading any file."""
        raise NotImplementedError

    def task(self) -> str:
        return "classification"

    def default_encoders(self) -> dict[str, dict]:
        """``{modality: {"name": ..., "options": {...}}}`` used where the config names none."""
        return {m: {"name": "mlp", "options": {}} for m in self.modality_names()}


def build_splits(name: str, options: dict | Options | None = None) -> DataSplits:
    """Load data set ``name`` with ``options`` (validated against its options model)."""
    parsed = DATASETS.parse_options(name, options, f"data.options ({name})")
    return DATASETS.get(name).factory(parsed)

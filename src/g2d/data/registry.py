"""The data set registry: ``@DATASETS.register("name", options=Opts)`` on a ``build(options)``."""
from __future__ import annotations

from typing import Callable

from g2d.data.base import DataSplits
from g2d.registry import Options, Registry
from g2d.validation import ConfigError

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
    """Load data set ``name`` with ``options`` (validated against its options model). Built through
    the registry's ``create``, so a plugin data set that raises or exits is named as that plugin's
    failure, like a plugin encoder or method."""
    from g2d.data.validate import check_targets_vary

    parsed = DATASETS.parse_options(name, options, f"data.options ({name})")
    splits = DATASETS.create(name, parsed)
    if not isinstance(splits, DataSplits):
        factory = DATASETS.get(name).factory
        raise ConfigError(f"data set {name!r} ({factory.__module__}.{factory.__qualname__}) returned "
                          f"{type(splits).__name__}; expected g2d.data.DataSplits(train, val, test, info)")
    check_targets_vary(splits.train.targets().numpy(), splits.info.task, f"data set {name!r}",
                       splits.info.class_names)
    return splits

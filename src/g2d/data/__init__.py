"""Data sets: the split contract, the loader registry and the built-in loaders (one module each;
every module of this package is imported, so a new loader registers itself)."""
from g2d.data.base import (Batch, DataSplits, DatasetInfo, MultimodalDataset, SubsetDataset,
                           TensorDataset, carve_validation)
from g2d.data.registry import DATASETS, DatasetOptions, build_splits
from g2d.plugins import import_submodules

import_submodules(__name__, __path__, skip={"base", "registry"})

__all__ = ["Batch", "DataSplits", "DatasetInfo", "MultimodalDataset", "SubsetDataset",
           "TensorDataset", "carve_validation", "DATASETS", "DatasetOptions", "build_splits"]

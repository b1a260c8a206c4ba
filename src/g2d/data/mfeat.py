"""UCI Multiple Features: 2000 handwritten digits (200 per class) described by six views, each a
modality: ``fac`` profile correlations (216), ``fou`` Fourier coefficients (76), ``kar``
Karhunen-Loève coefficients (64), ``mor`` morphological features (6), ``pix`` pixel averages (240),
``zer`` Zernike moments (47). Files ``mfeat-<view>.csv``: a header row, then the features and the
label in the last column, rows aligned across views.

The data set has no split: test and then validation are carved (seeded, stratified) and recorded
in data.json. Each view is standardised per feature with train statistics.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from g2d.data.base import DataSplits
from g2d.data.memory import from_arrays
from g2d.data.registry import DATASETS, DatasetOptions
from g2d.data.validate import check_finite_rows, check_same_counts, require_dir, require_file
from g2d.validation import DataError
from g2d.registry import ConfigPath

View = Literal["fac", "fou", "kar", "mor", "pix", "zer"]
VIEWS: tuple[str, ...] = ("fac", "fou", "kar", "mor", "pix", "zer")


class MfeatOptions(DatasetOptions):
    root: ConfigPath = Field(..., description="folder with mfeat-<view>.csv (e.g. ../shared/data/mfeat)")
    views: list[View] = Field(list(VIEWS), min_length=2, description="views to use as modalities, in order")
    test_fraction: float = Field(0.25, gt=0, lt=1, description="carved, seeded and stratified")
    standardize: bool = Field(True, description="per-feature train mean/std")

    @field_validator("views")
    @classmethod
    def _unique(cls, views: list[str]) -> list[str]:
        if len(set(views)) != len(views):
            raise ValueError(f"expected distinct views, got {views}")
        return views

    def modality_names(self) -> list[str]:
        return list(self.views)


def read_view(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, D) float32, labels (N,) int64) of one view's CSV."""
    require_file(path, "data.options.root")
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise DataError(f"{path}: expected a header row then rows of numbers ({err})") from None
    if table.shape[1] < 2:
        raise DataError(f"{path}: expected feature columns and a label column, got {table.shape[1]} column(s)")
    check_finite_rows(table, str(path))
    return table[:, :-1].astype(np.float32), table[:, -1].astype(np.int64)


@DATASETS.register("mfeat", options=MfeatOptions)
def mfeat(opts: MfeatOptions) -> DataSplits:
    """UCI Multiple Features: up to six views of handwritten digits, one modality each."""
    root = require_dir(Path(opts.root).expanduser(), "data.options.root", config_path=True)
    features, labels = {}, None
    for view in opts.views:
        x, y = read_view(root / f"mfeat-{view}.csv")
        if labels is not None:
            check_same_counts({f"mfeat-{opts.views[0]}.csv": len(labels), f"mfeat-{view}.csv": len(y)}, str(root))
            differ = np.flatnonzero(labels != y)
            if len(differ):
                raise DataError(f"mfeat-{view}.csv row {int(differ[0]) + 2}: label {y[differ[0]]} differs from "
                                f"mfeat-{opts.views[0]}.csv ({labels[differ[0]]}); rows must be aligned across views")
        features[view], labels = x, y
    splits = from_arrays(features, labels, class_names=[str(c) for c in range(int(labels.max()) + 1)],
                         val_fraction=opts.val_fraction, test_fraction=opts.test_fraction,
                         split_seed=opts.split_seed, standardize=opts.standardize, source=str(root))
    splits.provenance.update({"format": "mfeat", "views": list(opts.views)})
    return splits

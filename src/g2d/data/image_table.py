"""Image + table regression (MIS-ME style: a soil photo and a weather table -> soil moisture):
a CSV with a header, an image path column, numeric feature columns and a numeric target.

Targets are scaled to [0, 1] with the train split's (min, max), recorded as
``DatasetInfo.target_range`` so metrics (MAE, MAPE, R²) report original units. Table columns are
standardised with train statistics. A ``split`` column is used when present; otherwise test and
validation are carved (seeded) and recorded. Built on the manifest loader.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field

from g2d.data.base import DataSplits
from g2d.data.common import CachedLoaderOptions, ImageOptions, encoder_spec
from g2d.data.manifest import ManifestOptions, build_manifest, read_manifest
from g2d.data.registry import DATASETS
from g2d.validation import DataError
from g2d.registry import ConfigPath


class ImageTableOptions(CachedLoaderOptions):
    path: ConfigPath = Field(..., description="CSV with a header row")
    image_column: str = "image"
    feature_columns: list[str] | None = Field(None, description="table columns; default: every column "
                                              "except image, target, split and id")
    target_column: str = "target"
    split_column: str = "split"
    id_column: str = "id"
    test_fraction: float = Field(0.2, gt=0, lt=1, description="carved when there is no split column")
    base_dir: ConfigPath | None = Field(None, description="relative image paths start here; default: the CSV's folder")
    image: ImageOptions = Field(default_factory=lambda: ImageOptions(size=96))
    augment: bool = Field(False, description="random crop + flip of training images (teachers run online)")
    width: float = Field(0.5, gt=0, description="MobileNetV2 width multiplier of the default image encoder")

    def modality_names(self) -> list[str]:
        return ["image", "table"]

    def task(self) -> str:
        return "regression"

    def default_encoders(self) -> dict[str, dict]:
        return {"image": encoder_spec("mobilenetv2", {"width": self.width}), "table": {"name": "mlp", "options": {}}}


@DATASETS.register("image_table", options=ImageTableOptions)
def image_table(opts: ImageTableOptions) -> DataSplits:
    """Image + numeric table -> numeric target (regression), from one CSV."""
    columns, _ = read_manifest(Path(opts.path).expanduser())
    reserved = {opts.image_column, opts.target_column, opts.split_column, opts.id_column}
    features = opts.feature_columns or [c for c in columns if c not in reserved]
    if not features:
        raise DataError(f"{opts.path}: no table columns found besides {sorted(reserved & set(columns))}; "
                        f"list them in data.options.feature_columns")
    manifest = ManifestOptions(
        path=opts.path, modalities=["image", "table"], columns={"image": [opts.image_column], "table": features},
        kinds={"image": "image", "table": "numbers"}, label_column=opts.target_column, task_type="regression",
        split_column=opts.split_column, id_column=opts.id_column, test_fraction=opts.test_fraction,
        base_dir=opts.base_dir, image=opts.image, augment=opts.augment, val_fraction=opts.val_fraction,
        split_seed=opts.split_seed, skip_bad=opts.skip_bad, preprocessed_cache=opts.preprocessed_cache,
        cache_dir=opts.cache_dir, decode_workers=opts.decode_workers)
    return build_manifest(manifest, provenance={"format": "image_table", "table_columns": features})

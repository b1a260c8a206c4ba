"""Options and helpers the file loaders share: bad-sample policy, preprocessed cache, audio and
image settings, default encoders, validation carving and regression target scaling."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from g2d.data.audio import AudioTransform
from g2d.data.base import DataSplits, MultimodalDataset, carve_validation, stratified_split
from g2d.data.image import FramesTransform, ImageTransform
from g2d.data.preprocessed import default_cache_root
from g2d.data.registry import DatasetOptions
from g2d.data.validate import BadSamples, check_class_list, check_targets_vary, warn_constant
from g2d.paths import require_file, require_folder
from g2d.registry import ConfigPath, Options
from g2d.validation import RELATIVE_PATHS, DataError


def _number_to_name(value: Any) -> Any:
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


#: A class label as written in a csv; YAML numbers (``classes: [0, 1, 2]``) are read as their text.
ClassName = Annotated[str, BeforeValidator(_number_to_name)]


def _valid_class_list(classes: list[str]) -> list[str]:
    check_class_list(classes, "class list")
    return classes


#: A list of class names in class order: at least two, none repeated.
ClassList = Annotated[list[ClassName], AfterValidator(_valid_class_list)]


class CachedLoaderOptions(DatasetOptions):
    """Options of every loader that decodes files: bad-sample policy and the preprocessed cache."""

    skip_bad: bool = Field(False, description="drop bad samples (listed in data.json) instead of failing")
    preprocessed_cache: bool = Field(True, description="decode files once and keep the arrays on disk")
    cache_dir: ConfigPath | None = Field(None, description="where preprocessed arrays go; default "
                                                    "$G2D_CACHE_DIR or ~/.cache/g2d/preprocessed")
    decode_workers: int = Field(0, ge=0, description="processes that decode files when building")
    cache_max_gib: float | None = Field(None, gt=0, description="cap on the preprocessed cache's total size: "
                                        "after building an entry, the least recently used ones not in use "
                                        "are evicted (`g2d cache --list` / `--prune` by hand)")
    hash_contents: bool = Field(False, description="identify each file by a hash of its bytes, not by its "
                                "path, size and mtime (which miss a file rewritten with the same size and "
                                "mtime); reads every file once per run")

    def cache_root(self) -> Path | None:
        if not self.preprocessed_cache:
            return None
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_root()


class FileLoaderOptions(CachedLoaderOptions):
    """Options of every loader that reads a folder of files."""

    root: ConfigPath = Field(..., description="folder of the data set")

    def root_path(self) -> Path:
        return require_folder(Path(self.root).expanduser(), "data.options.root: folder", DataError,
                              hint=RELATIVE_PATHS)


class AudioOptions(Options):
    sample_rate: int = Field(16000, gt=0, description="resample every clip to this rate (Hz)")
    seconds: float = Field(3.0, gt=0, description="tile short clips / trim long ones to this length")
    n_fft: int = Field(512, ge=16)
    hop: int = Field(160, ge=1)
    size: list[int] | None = Field(None, description="resize the spectrogram to [H, W]; null keeps "
                                                     "(n_fft/2+1, frames)")

    @model_validator(mode="after")
    def _size_pair(self) -> "AudioOptions":
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 1):
            raise ValueError(f"size: expected [H, W] with positive values, got {self.size}")
        self.transform()  # a clip shorter than the STFT window is refused now, by its options
        return self

    def transform(self) -> AudioTransform:
        return AudioTransform(self.sample_rate, self.seconds, self.n_fft, self.hop,
                              tuple(self.size) if self.size else None)


class ImageOptions(Options):
    channels: int = Field(3, description="3 (RGB) or 1 (grey)")
    size: int = Field(112, ge=8, description="side of the square input the encoder sees")
    resize: int | None = Field(None, description="side before cropping to `size` (random crop when "
                                                 "augmenting); null = size")
    mean: list[float] | None = Field(None, description="per channel; default ImageNet (RGB) or 0.5 (grey)")
    std: list[float] | None = Field(None, description="per channel; default ImageNet (RGB) or 0.5 (grey)")
    num_frames: int = Field(1, ge=1, description="frames per clip (frame folders): 1 -> (C,H,W), "
                                                 "more -> (T,C,H,W)")

    def transform(self) -> ImageTransform:
        rgb = self.channels == 3
        mean = tuple(self.mean or ((0.485, 0.456, 0.406) if rgb else (0.5,)))
        std = tuple(self.std or ((0.229, 0.224, 0.225) if rgb else (0.5,)))
        try:
            return ImageTransform(self.channels, self.size, self.resize, mean, std)
        except ValueError as err:
            raise DataError(f"data.options image: {err}") from None

    def frames(self) -> FramesTransform:
        return FramesTransform(self.transform(), self.num_frames)


def encoder_spec(name: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """A default-encoder entry ``{"name": ..., "options": ...}`` for ``default_encoders()``."""
    return {"name": name, "options": dict(options or {})}


def finish_splits(train: MultimodalDataset, val: MultimodalDataset | None, test: MultimodalDataset,
                  opts: DatasetOptions, provenance: dict[str, Any], bad: BadSamples | None = None) -> DataSplits:
    """Carve validation from train (seeded, stratified) when there is none; record how."""
    if val is None:
        train, val, record = carve_validation(train, opts.val_fraction, opts.split_seed)
        provenance = {**provenance, **record}
    else:
        provenance = {"validation": "given by the data set", **provenance}
    if bad is not None:
        provenance.update(bad.provenance())
    return DataSplits(train, val, test, train.info, provenance)


def carve_indices(labels: np.ndarray, fraction: float, seed: int, stratify: bool,
                  where: str) -> tuple[list[int], list[int]]:
    """Seeded (stratified) split of ``range(len(labels))`` into (keep, held out)."""
    import torch

    try:
        return stratified_split(torch.as_tensor(labels), fraction, seed, stratify)
    except DataError as err:
        raise DataError(f"{where}: {err}") from None


def carve_records(records: list, fraction: float, seed: int, stratify: bool, where: str
                  ) -> tuple[list, list, dict[str, Any]]:
    """Seeded (stratified) split of records into (kept, held out) and its provenance record."""
    if not records:
        raise DataError(f"{where}: found an empty split (0 usable samples)")
    keep, held = carve_indices(np.asarray([r.target for r in records]), fraction, seed, stratify, where)
    record = {"fraction": fraction, "split_seed": seed, "stratified": stratify,
              "ids": [records[i].id for i in held]}
    return [records[i] for i in keep], [records[i] for i in held], record


def scale_targets(train: np.ndarray, *others: np.ndarray, where: str = "regression targets"
                  ) -> tuple[tuple[float, float], list[np.ndarray]]:
    """Scale regression targets to [0, 1] with the train split's (min, max); returns the range.
    A constant train target (nothing to learn, and no range to scale by) is a DataError."""
    values = np.asarray(train, np.float64)
    check_targets_vary(values, "regression", where)
    lo, hi = float(np.min(values)), float(np.max(values))
    span = hi - lo if hi > lo else 1.0
    return (lo, hi), [(np.asarray(a, np.float64) - lo) / span for a in (train, *others)]


def file_splits(records: dict[str, list], pipeline: Any, info: Any, opts: CachedLoaderOptions,
                bad: BadSamples, name: str, augment: bool = False,
                provenance: dict[str, Any] | None = None) -> DataSplits:
    """Build train/val/test :class:`FileDataset`\\ s from records per split. Without a ``val`` entry,
    validation is carved from the train *records* (seeded, stratified), so it never gets the
    training augmentation."""
    from g2d.data.preprocessed import build_file_dataset, drop_missing

    provenance = dict(provenance or {})
    train_records = records["train"]
    val_records = records.get("val")
    if val_records is None:
        train_records = drop_missing(train_records, bad)  # carve from usable samples only
        train_records, val_records, record = carve_records(train_records, opts.val_fraction, opts.split_seed,
                                                           info.task == "classification", f"{name} train")
        provenance.update({"validation": "carved from train", **record})
    else:
        provenance.setdefault("validation", "given by the data set")
    common = dict(cache_root=opts.cache_root(), workers=opts.decode_workers, hash_contents=opts.hash_contents,
                  max_cache_bytes=int(opts.cache_max_gib * 2**30) if opts.cache_max_gib else None)
    train = build_file_dataset(train_records, pipeline, info, bad, name=f"{name}/train", augment=augment, **common)
    for m in train.constant_modalities:
        warn_constant(m, f"{name} train split", len(train))
    val = build_file_dataset(val_records, pipeline, info, bad, name=f"{name}/val", **common)
    test = build_file_dataset(records["test"], pipeline, info, bad, name=f"{name}/test", **common)
    provenance["preprocessed_cache"] = str(train.cache_folder.parent) if train.cache_folder else None
    provenance.update(bad.provenance())
    return DataSplits(train, val, test, info, provenance)


def read_csv_rows(path: Path, what: str, encoding: str = "utf-8-sig") -> list[tuple[int, list[str]]]:
    """Non-blank rows of a CSV file as ``(line number, fields)``; DataError if absent/unreadable."""
    import csv

    require_file(path, f"{what}: file", DataError)
    try:
        with open(path, newline="", encoding=encoding) as fh:
            return [(n, [f.strip() for f in row]) for n, row in enumerate(csv.reader(fh), start=1)
                    if any(f.strip() for f in row)]
    except (UnicodeDecodeError, csv.Error) as err:
        shown = "UTF-8" if encoding.lower().replace("_", "-") in ("utf-8", "utf-8-sig", "utf8") else encoding
        raise DataError(f"{what}: {str(path)!r} is not a readable {shown} CSV file ({err})") from None


def drop_duplicates(records: list, bad: BadSamples, seen: dict[str, str] | None = None) -> list:
    """Report every record whose id was already used (here or in ``seen``: id -> where)."""
    seen = {} if seen is None else seen
    kept = []
    for r in records:
        if r.id in seen:
            bad.report(r.where, f"duplicate id {r.id!r} (first at {seen[r.id]}); every sample needs a unique id")
            continue
        seen[r.id] = r.where
        kept.append(r)
    return kept

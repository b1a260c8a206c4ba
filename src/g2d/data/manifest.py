"""A user's own data: a manifest (CSV with a header, or JSONL) with one column per modality, a
label/target column, and optional ``split`` and ``id`` columns.

A modality's cell is a file path (``.wav``/``.flac``/``.ogg`` → log spectrogram, ``.jpg``/``.png`` →
normalised image, ``.npy`` → the array as stored), inline numbers (CSV: ``"0.1 0.2 0.3"`` or
``"[0.1, 0.2]"``; JSONL: a number or a list) or raw text (``kinds: {m: text}``: token ids from a
tokenizer trained on the train split, :mod:`g2d.data.text`). The kind is read from the first row
unless ``kinds`` names it (text must be named). Relative paths are resolved against the manifest's folder. Without a split column, test
and validation are carved from the rows (seeded, stratified) and recorded in data.json.
"""
from __future__ import annotations

import codecs
import json
import re
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from g2d.data.base import DatasetInfo, DataSplits
from g2d.data.common import (AudioOptions, CachedLoaderOptions, ClassList, ImageOptions, carve_records,
                             drop_duplicates, encoder_spec, file_splits, read_csv_rows, scale_targets)
from g2d.data.preprocessed import Pipeline, Record, TextCell, drop_missing
from g2d.data.text import TextOptions, TokenizeText, train_tokenizer
from g2d.data.registry import DATASETS
from g2d.data.validate import (ARRAY_FILE_ERRORS, MIN_CLASS_SAMPLES, BadSamples, check_class_support,
                               find_duplicates)
from g2d.paths import require_file, require_folder
from g2d.validation import RELATIVE_PATHS, DataError
from g2d.registry import ConfigPath

Kind = Literal["audio", "image", "array", "numbers", "text"]
SUFFIX_KINDS = {".wav": "audio", ".flac": "audio", ".ogg": "audio", ".jpg": "image", ".jpeg": "image",
                ".png": "image", ".bmp": "image", ".npy": "array"}
SPLITS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "dev": "val", "test": "test"}


class ManifestOptions(CachedLoaderOptions):
    path: ConfigPath = Field(..., description="manifest file: .csv (with a header) or .jsonl")
    modalities: list[str] = Field(..., min_length=1, description="columns that are modalities")
    columns: dict[str, list[str]] = Field(default_factory=dict, description="modality -> several numeric "
                                          "columns concatenated into one vector (default: its own column)")
    kinds: dict[str, Kind] = Field(default_factory=dict, description="modality -> audio|image|array|numbers|text; "
                                   "default: read from the first row (text must be named here)")
    label_column: str = "label"
    task_type: Literal["classification", "regression"] = "classification"
    classes: ClassList | None = Field(None, description="label names in class order; default: sorted train "
                                            "labels, each needing min_class_samples rows in more than one split")
    min_class_samples: int = Field(MIN_CLASS_SAMPLES, ge=1, description="without `classes`: fewer rows make a "
                                   "label an error (a typo?)")
    split_column: str = Field("split", description="train/val/test per row; when absent, test and val are carved")
    id_column: str = Field("id", description="unique sample ids, when the column exists")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="carved when there is no split column")
    base_dir: ConfigPath | None = Field(None, description="relative paths start here; default: the manifest's folder")
    encoding: str = Field("utf-8", description="text encoding of the manifest (a Python codec name, e.g. latin-1)")
    standardize: bool = Field(True, description="inline numbers: per-feature train mean/std")
    audio: AudioOptions = Field(default_factory=AudioOptions)
    image: ImageOptions = Field(default_factory=ImageOptions)
    text: TextOptions = Field(default_factory=TextOptions)
    augment: bool = Field(False, description="random crop + flip of training images (teachers run online)")
    width: float = Field(0.25, gt=0, description="ResNet-18 width multiplier of the default encoders "
                                                      "(1 = 64..512 channels)")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}; expected a Python codec name such as "
                             f"utf-8 or latin-1") from None
        return value

    def modality_names(self) -> list[str]:
        return list(self.modalities)

    def task(self) -> str:
        return self.task_type

    def default_encoders(self) -> dict[str, dict]:
        kinds = dict(self.kinds)
        if len(kinds) < len(self.modalities):
            try:
                kinds = {**peek_kinds(self), **kinds}
            except (DataError, OSError, IndexError):
                pass  # the loader reports the problem when it reads the manifest
        return {m: self.default_encoder(kinds.get(m)) for m in self.modalities}

    def default_encoder(self, kind: str | None) -> dict:
        if kind in ("audio", "image"):
            return encoder_spec("resnet18", {"width": self.width})
        if kind == "text":
            return {"name": "transformer", "options": {"vocab_size": self.text.vocab_size, "width": 64,
                                                       "heads": 4, "layers": 2}}
        return {"name": "mlp", "options": {}}

    def modality_columns(self, m: str) -> list[str]:
        return self.columns.get(m, [m])


def read_manifest(path: Path, encoding: str = "utf-8") -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    """(columns, [(where, row)]) of a CSV (header + rows) or JSONL manifest in ``encoding``."""
    require_file(path, "data.options.path: manifest", DataError, hint=RELATIVE_PATHS)
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows, columns = [], []
        try:
            text = path.read_text(encoding=encoding)
        except UnicodeDecodeError as err:
            shown = "UTF-8" if encoding.lower() in ("utf-8", "utf8") else encoding
            raise DataError(f"{path}: not a {shown} text file ({err.reason} at byte {err.start}); expected "
                            f"one JSON object per line") from None
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line, object_pairs_hook=_unique_keys)
            except _RepeatedKey as err:
                raise DataError(f"{path.name} line {n}: the object names key {err.key!r} twice; every field needs "
                                f"a distinct name, or one of the values would be silently dropped") from None
            except json.JSONDecodeError as err:
                raise DataError(f"{path.name} line {n}: not valid JSON ({err.msg}); expected one object per line") from None
            if not isinstance(row, dict):
                raise DataError(f"{path.name} line {n}: expected a JSON object, got {type(row).__name__}")
            columns += [k for k in row if k not in columns]
            rows.append((f"{path.name} line {n}", row))
        return columns, rows
    table = read_csv_rows(path, "data.options.path", "utf-8-sig" if encoding.lower() in ("utf-8", "utf8") else encoding)
    if not table:
        raise DataError(f"{path}: the manifest is empty; expected a header row and at least one sample")
    header = table[0][1]
    repeated = find_duplicates(header)
    if repeated:
        at = [i + 1 for i, c in enumerate(header) if c == repeated[0]]
        raise DataError(f"{path} line {table[0][0]}: the header names column {repeated[0]!r} {len(at)} times "
                        f"(columns {at}); every column needs a distinct name, or one of them would be "
                        f"silently ignored")
    rows = []
    for n, fields in table[1:]:
        if len(fields) != len(header):
            raise DataError(f"{path.name} line {n}: expected {len(header)} fields ({','.join(header)}), got {len(fields)}")
        rows.append((f"{path.name} line {n}", dict(zip(header, fields))))
    return header, rows


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` hook: an object with one key twice is refused (json keeps the last silently)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(key)
        out[key] = value
    return out


def detect_kind(value: Any) -> Kind:
    if isinstance(value, str):
        suffix = Path(value.strip()).suffix.lower()
        if suffix in SUFFIX_KINDS:
            return SUFFIX_KINDS[suffix]  # type: ignore[return-value]
    return "numbers"


def peek_kinds(opts: ManifestOptions) -> dict[str, Kind]:
    _, rows = read_manifest(Path(opts.path).expanduser(), opts.encoding)
    return {m: detect_kind(rows[0][1].get(opts.modality_columns(m)[0])) for m in opts.modalities}


def parse_numbers(value: Any) -> np.ndarray:
    """A cell of inline numbers -> float array; ValueError when it holds anything else."""
    if isinstance(value, str):
        parts = [p for p in re.split(r"[,;\s]+", value.strip().strip("[]")) if p]
        if not parts:
            raise ValueError("empty cell")
        return np.asarray([float(p) for p in parts], dtype=np.float64)
    arr = np.asarray(value, dtype=np.float64)
    return arr.reshape(1) if arr.ndim == 0 else arr


class NpyLoader:
    """Reads a per-sample ``.npy`` (no pickles) as float32."""

    def __call__(self, path: Path) -> np.ndarray:
        require_file(path, "array file", DataError)
        try:
            arr = np.load(path, allow_pickle=False)
        except ARRAY_FILE_ERRORS as err:
            raise DataError(f"array file {str(path)!r} is unreadable ({err}); expected a numeric .npy") from None
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise DataError(f"array file {str(path)!r}: expected a numeric array, got dtype {arr.dtype}")
        return arr.astype(np.float32)


class Standardize:
    """``(x − mean) / std`` computed in float64 (a value near 1e30 must not overflow), then float32."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean, self.std = mean.astype(np.float64), std.astype(np.float64)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float64) - self.mean) / self.std).astype(np.float32)


class CropFinisher:
    def __init__(self, image: Any) -> None:
        self.image = image

    def __call__(self, x: Any, augment: bool) -> Any:
        return self.image.crop_batch(x, augment)


def to_record(where: str, row: dict[str, Any], opts: ManifestOptions, kinds: dict[str, Kind], base: Path,
              bad: BadSamples) -> tuple[Record, str] | None:
    """One manifest row -> (record with the raw label, split name); None when it was reported."""
    sources: dict[str, Any] = {}
    for m in opts.modalities:
        cols = opts.modality_columns(m)
        missing = [c for c in cols if row.get(c) in (None, "")]
        if missing:
            bad.report(where, f"column {missing[0]!r} is empty; expected a value for modality {m!r}")
            return None
        if kinds[m] == "text":
            if len(cols) > 1:
                bad.report(where, f"modality {m!r}: a text modality reads one column, got columns {cols}")
                return None
            sources[m] = TextCell(str(row[cols[0]]))
        elif kinds[m] == "numbers":
            try:
                sources[m] = np.concatenate([parse_numbers(row[c]).reshape(-1) for c in cols]) if len(cols) > 1 \
                    else parse_numbers(row[cols[0]])
            except (ValueError, TypeError):
                bad.report(where, f"modality {m!r}: expected inline numbers, got {row[cols[0]]!r}")
                return None
            if not np.isfinite(sources[m]).all():
                bad.report(where, f"modality {m!r}: found NaN or Inf; inputs must be finite")
                return None
        else:
            value = str(row[cols[0]]).strip()
            if detect_kind(value) != kinds[m]:
                bad.report(where, f"modality {m!r}: expected a {kinds[m]} file path, got {value!r}")
                return None
            sources[m] = (base / value) if not Path(value).is_absolute() else Path(value)
    label = row.get(opts.label_column)
    if label in (None, ""):
        bad.report(where, f"column {opts.label_column!r} is empty; expected a label")
        return None
    if isinstance(label, float) and label.is_integer() and opts.task_type == "classification":
        label = int(label)
    split = SPLITS.get(str(row.get(opts.split_column, "train")).strip().lower())
    if split is None:
        bad.report(where, f"split {row.get(opts.split_column)!r} is not one of train/val/test")
        return None
    rid = str(row.get(opts.id_column, where))
    return Record(rid, sources, str(label).strip() if opts.task_type == "classification" else label, where), split


def same_length_numbers(records: dict[str, list[Record]], kinds: dict[str, Kind],
                        bad: BadSamples) -> dict[str, list[Record]]:
    """Every row's inline-number vector of a modality has the first row's length; a row that
    differs is reported (naming it, the first row and both lengths)."""
    first: dict[str, Record] = {}
    kept: dict[str, list[Record]] = {}
    for split, recs in records.items():
        kept[split] = []
        for r in recs:
            ok = True
            for m, kind in kinds.items():
                if kind != "numbers":
                    continue
                ref = first.setdefault(m, r)
                if r.sources[m].shape != ref.sources[m].shape:
                    bad.report(r.where, f"modality {m!r}: expected {ref.sources[m].size} numbers (as in "
                                        f"{ref.where}), got {r.sources[m].size}")
                    ok = False
                    break
            if ok:
                kept[split].append(r)
    return kept


def class_list(labels: list[str]) -> list[str]:
    """Sorted unique labels (numerically when they are all integers)."""
    unique = sorted(set(labels))
    if all(re.fullmatch(r"-?\d+", u) for u in unique):
        return sorted(unique, key=int)
    return unique


def assign_targets(records: dict[str, list[Record]], opts: ManifestOptions, bad: BadSamples) -> list[str] | None:
    """Labels -> class indices (classification) or finite floats (regression), in place."""
    classes = None
    if opts.task_type == "classification":
        classes = list(opts.classes or class_list([r.target for r in records.get("train", [])]))
    for split, recs in records.items():
        kept = []
        for r in recs:
            if classes is not None:
                if r.target not in classes:
                    shown = classes if len(classes) <= 12 else classes[:12] + ["…"]
                    bad.report(r.where, f"label {r.target!r} is not one of the classes {shown}")
                    continue
                r.target = classes.index(r.target)
            else:
                try:
                    r.target = float(r.target)
                    assert np.isfinite(r.target)
                except (ValueError, TypeError, AssertionError):
                    bad.report(r.where, f"target {r.target!r} is not a finite number")
                    continue
            kept.append(r)
        records[split] = kept
    return classes


def build_manifest(opts: ManifestOptions, provenance: dict[str, Any] | None = None) -> DataSplits:
    path = Path(opts.path).expanduser()
    columns, rows = read_manifest(path, opts.encoding)
    base = (require_folder(Path(opts.base_dir).expanduser(), "data.options.base_dir: folder", DataError,
                           hint=RELATIVE_PATHS) if opts.base_dir else path.parent)
    needed = [c for m in opts.modalities for c in opts.modality_columns(m)] + [opts.label_column]
    absent = [c for c in needed if c not in columns]
    if absent:
        raise DataError(f"{path}: missing columns {absent}; found {columns}")
    if not rows:
        raise DataError(f"{path}: found an empty manifest (0 samples)")
    kinds = {m: opts.kinds.get(m) or detect_kind(rows[0][1].get(opts.modality_columns(m)[0])) for m in opts.modalities}
    bad = BadSamples(opts.skip_bad)
    records: dict[str, list[Record]] = {"train": [], "val": [], "test": []}
    seen: dict[str, str] = {}
    for where, row in rows:
        parsed = to_record(where, row, opts, kinds, base, bad)
        if parsed is not None:
            records[parsed[1]] += drop_duplicates([parsed[0]], bad, seen)
    records = same_length_numbers(records, kinds, bad)
    classification = opts.task_type == "classification"
    if classification and opts.classes is None:
        given = [(r, split) for split, recs in records.items() for r in recs]
        check_class_support([r.target for r, _ in given], [r.where for r, _ in given],
                            [s for _, s in given] if opts.split_column in columns else None, str(path),
                            "classes", opts.min_class_samples)
    classes = assign_targets(records, opts, bad)
    provenance = {"source": str(path), "format": "manifest", "kinds": kinds, **(provenance or {})}
    if opts.split_column not in columns:
        pool = drop_missing(records["train"], bad)
        records["train"], records["test"], held = carve_records(pool, opts.test_fraction, opts.split_seed,
                                                                       classification, str(path))
        provenance["test"] = {"carved from": "all rows", **held}
    if not records["val"]:
        records["train"] = drop_missing(records["train"], bad)
        records["train"], records["val"], held = carve_records(records["train"], opts.val_fraction,
                                                               opts.split_seed, classification, str(path))
        provenance["validation"] = {"carved from": "train", **held}
    for split, recs in records.items():
        if not recs:
            raise DataError(f"{path}: found an empty {split} split (0 usable rows); every split needs samples")
    target_range = None
    if not classification:
        target_range, scaled = scale_targets(np.asarray([r.target for r in records["train"]]),
                                             where=f"{path} column {opts.label_column!r}")
        lo, hi = target_range
        for recs in records.values():
            for r in recs:
                r.target = (r.target - lo) / (hi - lo if hi > lo else 1.0)
    texts = text_decoders(records, kinds, opts, bad)
    if texts:
        provenance["text"] = {m: {"tokenizer": t.describe(), "tokenizer_sha256": t.sha256,
                                  "truncated_rows": t.truncated} for m, t in texts.items()}
    pipeline, shapes = manifest_pipeline(records["train"], kinds, opts, bad, texts)
    info = DatasetInfo(tuple(opts.modalities), opts.task_type, len(classes) if classes else 1, shapes,
                       tuple(classes) if classes else None, target_range)
    splits = file_splits(records, pipeline, info, opts, bad, f"manifest-{path.stem}", augment=opts.augment,
                         provenance=provenance)
    splits.artifacts.update({f"tokenizers/{m}.json": t.json for m, t in texts.items()})
    return splits


def text_decoders(records: dict[str, list[Record]], kinds: dict[str, Kind], opts: ManifestOptions,
                  bad: BadSamples) -> dict[str, TokenizeText]:
    """Per text modality, a tokenizer trained on the train split's texts; a text without a single
    token is reported (naming its row and column), and the rows longer than ``max_tokens`` are
    counted (``truncated`` on the decoder) and noted once."""
    decoders = {}
    for m, kind in kinds.items():
        if kind != "text":
            continue
        column = opts.modality_columns(m)[0]
        decoder = TokenizeText(train_tokenizer((r.sources[m].text for r in records["train"]), opts.text),
                               opts.text.max_tokens)
        truncated = 0
        for split, recs in records.items():
            kept = []
            for r in recs:
                count = len(decoder.ids(r.sources[m].text))
                if count == 0:
                    bad.report(r.where, f"column {column!r}: the text has no token; expected some words "
                                        f"for modality {m!r}")
                    continue
                truncated += count > opts.text.max_tokens
                kept.append(r)
            records[split] = kept
        decoder.truncated = truncated
        if truncated:
            warnings.warn(f"modality {m!r}: {truncated} texts are longer than text.max_tokens = "
                          f"{opts.text.max_tokens} tokens and were truncated")
        decoders[m] = decoder
    return decoders


def manifest_pipeline(train: list[Record], kinds: dict[str, Kind], opts: ManifestOptions, bad: BadSamples,
                      texts: dict[str, TokenizeText] | None = None) -> tuple[Pipeline, dict[str, tuple[int, ...]]]:
    decoders, stored, final, finishers, notes = {}, {}, {}, {}, []
    for m, kind in kinds.items():
        if kind == "text":
            decoders[m] = (texts or {})[m]
            stored[m] = final[m] = (opts.text.max_tokens,)
            notes.append(f"{m}: {decoders[m].describe()}")
        elif kind == "audio":
            t = opts.audio.transform()
            decoders[m], stored[m], final[m] = t, t.output_shape(), t.output_shape()
            notes.append(f"{m}: {t.describe()}")
        elif kind == "image":
            t = opts.image.transform()
            decoders[m], stored[m], final[m] = t, t.stored_shape(), t.output_shape()
            finishers[m] = CropFinisher(t)
            notes.append(f"{m}: {t.describe()}")
        elif kind == "array":
            first = next((r.sources[m] for r in train if r.sources[m].is_file()), None)
            if first is None:
                raise DataError(f"modality {m!r}: no .npy file of the train split exists")
            decoders[m] = NpyLoader()
            stored[m] = final[m] = tuple(decoders[m](first).shape)
            notes.append(f"{m}: .npy as stored, shape {stored[m]}")
        else:
            values = np.stack([r.sources[m] for r in train if r.sources[m].shape == train[0].sources[m].shape])
            values = values.astype(np.float64)  # statistics in float64: squares of 1e30 overflow float32
            mean, std = (values.mean(0), values.std(0)) if opts.standardize else (0 * values[0], 1 + 0 * values[0])
            std = np.where(std > 0, std, 1.0)
            decoders[m], stored[m], final[m] = Standardize(mean, std), tuple(values.shape[1:]), tuple(values.shape[1:])
            notes.append(f"{m}: inline numbers {stored[m]}" + (", per-feature train mean/std (float64)"
                                                                if opts.standardize else ""))
    return Pipeline(decoders, stored, "; ".join(notes), finishers or None), final


@DATASETS.register("manifest", options=ManifestOptions)
def manifest(opts: ManifestOptions) -> DataSplits:
    """A user's CSV/JSONL manifest: per-modality file paths or inline numbers, a label, optional split."""
    return build_manifest(opts)

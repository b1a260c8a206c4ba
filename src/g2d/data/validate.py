"""Checks shared by the file loaders, and the ``skip_bad`` bookkeeping.

Every check raises :class:`~g2d.validation.DataError` naming the file, the line or sample, and what
was expected. With ``skip_bad`` a :class:`BadSamples` collector records the problem instead, so
the loader can drop the sample, count it and list it in ``DataSplits.provenance["skipped"]``.
"""
from __future__ import annotations

import warnings
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from g2d import paths
from g2d.validation import RELATIVE_PATHS, DataError

#: what numpy and zipfile raise on a damaged ``.npy`` / ``.npz`` (a bad header, a truncated file, a
#: corrupt compressed member, a CRC mismatch)
ARRAY_FILE_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


@dataclass
class BadSamples:
    """Collects bad samples when ``skip_bad`` is on; raises at the first one otherwise."""

    skip_bad: bool = False
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def report(self, where: str, problem: str) -> None:
        """``where`` names the file and line/sample; ``problem`` says what was wrong and expected."""
        if not self.skip_bad:
            raise DataError(f"{where}: {problem}")
        self.skipped.append({"where": where, "problem": problem})

    def provenance(self) -> dict[str, Any]:
        return {"skipped": list(self.skipped), "num_skipped": len(self.skipped)}


def require_file(path: Path, what: str) -> Path:
    """The path exists and is a file, or a DataError naming ``what`` refers to it and what is wrong
    (missing, a symbolic link loop, a broken link, a folder; see :mod:`g2d.paths`)."""
    return paths.require_file(path, f"{what}: file", DataError)


def require_dir(path: Path, what: str, config_path: bool = False) -> Path:
    """The folder exists, or a DataError naming ``what``; ``config_path``: ``path`` came from a config's
    path option, so the message says where relative paths start."""
    return paths.require_folder(path, f"{what}: folder", DataError, hint=RELATIVE_PATHS if config_path else "")


def check_finite_rows(array: np.ndarray, where: str) -> None:
    """No NaN/Inf anywhere; the message names the first bad sample (row) index."""
    if not np.issubdtype(array.dtype, np.floating):
        return
    rows = bad_finite_rows(array)
    if len(rows):
        raise DataError(f"{where}: found NaN or Inf in {len(rows)} sample(s), first at sample {int(rows[0])} "
                        f"(samples {rows[:5].tolist()}); inputs must be finite")


def bad_finite_rows(array: np.ndarray) -> np.ndarray:
    """Indices of samples (rows) holding NaN or Inf."""
    if not np.issubdtype(array.dtype, np.floating):
        return np.zeros(0, dtype=np.int64)
    flat = array.reshape(array.shape[0], int(np.prod(array.shape[1:]))) if array.ndim > 1 else array[:, None]
    return np.flatnonzero(~np.isfinite(flat).all(axis=1))


def check_numeric(array: np.ndarray, where: str) -> None:
    """A number array (bool, int, float), not strings or Python objects."""
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DataError(f"{where}: expected a numeric array (int or float), got dtype {array.dtype}")


def check_same_counts(counts: dict[str, int], where: str) -> None:
    if len(set(counts.values())) > 1:
        raise DataError(f"{where}: found modalities with inconsistent numbers of samples: {counts}")


def check_not_empty(n: int, where: str) -> None:
    if n == 0:
        raise DataError(f"{where}: found an empty split (0 samples); every split needs at least one sample")


def find_duplicates(ids: Iterable[str]) -> list[str]:
    return sorted(k for k, c in Counter(ids).items() if c > 1)


def check_unique(ids: Sequence[str], where: str) -> None:
    dups = find_duplicates(ids)
    if dups:
        first = [i for i, x in enumerate(ids) if x == dups[0]]
        raise DataError(f"{where}: found duplicate ids {dups[:5]} ({len(dups)} in all); "
                        f"{dups[0]!r} appears at rows {first}; every sample needs a unique id")


def class_index(label: str, classes: Sequence[str], where: str, bad: BadSamples) -> int | None:
    """Index of ``label`` in ``classes``; reports it (and returns None) when it is not a known class."""
    try:
        return list(classes).index(label)
    except ValueError:
        shown = list(classes) if len(classes) <= 12 else list(classes[:12]) + ["…"]
        bad.report(where, f"label {label!r} is not one of the classes {shown}")
        return None


#: Without an explicit class list, a class with fewer samples than this (over every split) is
#: taken for a label typo; loaders expose it as the option ``min_class_samples``.
MIN_CLASS_SAMPLES = 3


def check_class_support(labels: Sequence[Any], where: Sequence[str], splits: Sequence[str] | None,
                        source: str, class_option: str, min_samples: int = MIN_CLASS_SAMPLES) -> None:
    """Refuse labels that look like typos when the classes were inferred from the data: a class
    with fewer than ``min_samples`` samples, or (when the splits are given, not carved) seen in
    one split only. The message names the label, its rows, and the options that accept it."""
    rows: dict[Any, list[int]] = {}
    for i, label in enumerate(labels):
        rows.setdefault(label, []).append(i)
    accept = (f"fix the label, or list the classes in data.options.{class_option} (or lower "
              f"data.options.min_class_samples) to accept it on purpose")
    for label, idx in rows.items():
        shown = ", ".join(where[i] for i in idx[:5]) + (f", … ({len(idx)} in all)" if len(idx) > 5 else "")
        if len(idx) < min_samples:
            raise DataError(f"{source}: label {label!r} has only {len(idx)} sample(s) ({shown}); without "
                            f"data.options.{class_option} every class needs at least {min_samples} — a typo? "
                            f"{accept}")
    distinct = set(splits or ())
    if len(distinct) < 2:
        return
    for label, idx in rows.items():
        seen = {splits[i] for i in idx}
        if len(seen) == 1:
            shown = ", ".join(where[i] for i in idx[:5]) + (f", … ({len(idx)} in all)" if len(idx) > 5 else "")
            raise DataError(f"{source}: label {label!r} appears only in the {next(iter(seen))} split ({shown}); "
                            f"every class needs samples in more than one split — a typo? {accept}")


def check_class_list(classes: Sequence[Any], option: str) -> None:
    """A class list names at least two classes, each once (a duplicate would make two outputs of
    one class and leave the second one's label unreachable)."""
    names = [str(c) for c in classes]
    dups = find_duplicates(names)
    if dups:
        raise DataError(f"{option}: class {dups[0]!r} is listed {names.count(dups[0])} times in {names}; "
                        f"every class must appear once")
    if len(names) < 2:
        raise DataError(f"{option}: expected at least two classes, got {names}; a classifier needs two")


def check_targets_vary(targets: np.ndarray, task: str, where: str, class_names: Sequence[str] | None = None) -> None:
    """The train split can teach something: a classification split holds two classes or more, a
    regression target is not one constant value."""
    values = np.asarray(targets).reshape(-1)
    if len(values) == 0:
        return
    distinct = np.unique(values)
    if task == "classification" and len(distinct) < 2:
        label = distinct[0].item()
        shown = class_names[int(label)] if class_names is not None and 0 <= int(label) < len(class_names) else label
        raise DataError(f"{where}: the train split holds one class only ({shown!r}, all {len(values)} samples); "
                        f"a classifier needs samples of at least two classes — check the label column and "
                        f"the split")
    if task == "regression" and len(distinct) < 2:
        raise DataError(f"{where}: the regression target is constant over the train split (all {len(values)} "
                        f"samples are {distinct[0].item()!r}); nothing can be learned from it — check the "
                        f"target column")


def first_varying_row(array: np.ndarray, rows: np.ndarray | None = None, chunk: int = 4096) -> int | None:
    """Index (into ``rows``) of the first sample that differs from the first one, or None when every
    sample is the same (a constant modality); reads chunks of rows and stops at the first difference."""
    rows = np.arange(len(array)) if rows is None else np.asarray(rows)
    if len(rows) < 2:
        return None
    first = np.asarray(array[rows[:1]])
    for start in range(0, len(rows), chunk):
        part = np.asarray(array[rows[start:start + chunk]])
        differs = np.flatnonzero((part != first).reshape(len(part), -1).any(axis=1))
        if len(differs):
            return start + int(differs[0])
    return None


def warn_if_constant(array: np.ndarray, modality: str, where: str, rows: np.ndarray | None = None) -> None:
    """A modality whose every train sample is identical carries nothing: its teacher stays at chance
    and distilling it teaches nothing. Said by name (a warning: a placeholder modality in a smoke
    test is a legitimate use)."""
    n = len(array) if rows is None else len(rows)
    if n >= 2 and first_varying_row(array, rows) is None:
        warn_constant(modality, where, n)


def warn_constant(modality: str, where: str, n: int) -> None:
    warnings.warn(f"{where}: modality {modality!r} is constant over the train split (all {n} samples are "
                  f"identical); it carries no information and its teacher will stay at chance — fix the data "
                  f"or leave the modality out", ConstantModalityWarning, stacklevel=3)


class ConstantModalityWarning(UserWarning):
    """A modality is the same in every train sample."""

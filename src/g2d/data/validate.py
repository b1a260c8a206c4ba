"""Checks shared by the file loaders, and the ``skip_bad`` bookkeeping.

Every check raises :class:`~g2d.validation.DataError` naming the file, the line or sample, and what
was expected. With ``skip_bad`` a :class:`BadSamples` collector records the problem instead, so
the loader can drop the sample, count it and list it in ``DataSplits.provenance["skipped"]``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from g2d.validation import DataError


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
    """The path exists and is a file, or a DataError naming ``what`` refers to it."""
    if not path.is_file():
        raise DataError(f"{what}: file {str(path)!r} does not exist")
    return path


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DataError(f"{what}: folder {str(path)!r} does not exist")
    return path


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

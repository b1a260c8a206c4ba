"""Input checks that fail early with messages saying what was expected, what arrived, and where."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch


class G2DError(Exception):
    """An error caused by the user's input (data, config, files); shown without a traceback."""


class DataError(G2DError, ValueError):
    """A data file, sample or field does not match what the loader expects."""


class ConfigError(G2DError, ValueError):
    """A configuration value is missing, unknown or inconsistent."""


class CacheMismatchError(G2DError, RuntimeError):
    """A teacher-output cache was built from other teachers, data or transforms."""


def check_consistent_batch(inputs: Mapping[str, torch.Tensor], where: str = "batch") -> int:
    sizes = {m: int(x.shape[0]) for m, x in inputs.items()}
    if len(set(sizes.values())) > 1:
        raise DataError(f"Found modalities with inconsistent batch sizes in {where}: {sizes}")
    return next(iter(sizes.values()))


def check_modalities(got: Sequence[str], expected: Sequence[str], where: str) -> None:
    if list(got) != list(expected):
        missing = [m for m in expected if m not in got]
        extra = [m for m in got if m not in expected]
        raise DataError(f"{where}: expected modalities {list(expected)}, got {list(got)}"
                        f" (missing {missing}, unexpected {extra})")


def check_finite(x: torch.Tensor, where: str) -> None:
    if x.is_floating_point() and not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).nonzero()[0].tolist()
        raise DataError(f"{where}: found NaN or Inf at index {bad}; inputs must be finite")

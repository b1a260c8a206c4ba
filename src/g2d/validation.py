"""The errors g2d raises for bad user input (data, config, files): the CLI prints them as one message."""
from __future__ import annotations

import difflib
from typing import Iterable


class G2DError(Exception):
    """An error caused by the user's input (data, config, files); shown without a traceback."""


class DataError(G2DError, ValueError):
    """A data file, sample or field does not match what the loader expects."""


class ConfigError(G2DError, ValueError):
    """A configuration value is missing, unknown or inconsistent."""


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """``"; did you mean 'g2d'?"`` for the closest valid name to a typo (difflib), else ``""``."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class CacheMismatchError(G2DError, RuntimeError):
    """A teacher-output cache was built from other teachers, data or transforms."""

"""The errors g2d raises for bad user input (data, config, files): the CLI prints them as one message."""
from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Iterable


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


def field_names_at(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """The field names of the pydantic model found by walking ``loc`` (field names, dict keys, list
    indices) down from ``model``; empty when the path leads to no model (for "did you mean")."""
    from pydantic import BaseModel
    annotation: Any = model
    for part in loc:
        annotation = _model_in(annotation)
        if annotation is None:
            return []
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(str(part))
            if info is None:
                return []
            annotation = info.annotation
        else:  # a dict's value or a list's item
            args = typing.get_args(annotation)
            annotation = args[-1] if args else None
    annotation = _model_in(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """``X | None`` -> X; containers and models unchanged."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else None
    return annotation


class CacheMismatchError(G2DError, RuntimeError):
    """A teacher-output cache was built from other teachers, data or transforms."""


#: Appended to "does not exist" errors about a data set's path options, which the config made absolute.
RELATIVE_PATHS = ("relative paths in a config file start at that file's folder; in --set options and "
                  "the Python API at the working folder")

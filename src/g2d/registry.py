"""Name -> factory registries, one per kind of pluggable piece (timm style).

A new data set, encoder, fusion, objective, modulator or method is added by writing one module
that decorates its factory with ``@REGISTRY.register("name", options=OptionsModel)``. Lookups of
unknown names fail loudly and list what exists.
"""
from __future__ import annotations

import fnmatch
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from g2d.validation import ConfigError, G2DError, did_you_mean, field_names_at

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Entry(Generic[F]):
    name: str
    factory: F
    options: type[BaseModel]
    doc: str


class Registry(Generic[F]):
    """A name -> (factory, typed options) table for one kind of component."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[F]] = {}

    def register(self, name: str, options: "type[BaseModel] | None" = None) -> Callable[[F], F]:
        def decorator(factory: F) -> F:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered by "
                                 f"{self._entries[name].factory.__module__}")
            model = options or NoOptions
            doc = (factory.__doc__ or "").strip().split("\n")[0]
            self._entries[name] = Entry(name, factory, model, doc)
            return factory

        return decorator

    def get(self, name: str) -> Entry[F]:
        if name not in self._entries:
            raise KeyError(f"Unknown {self.kind} {name!r}{did_you_mean(name, self._entries)}; expected one of "
                           f"{self.names()}")
        return self._entries[name]

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(fnmatch.filter(self._entries, pattern))

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def parse_options(self, name: str, options: dict[str, Any] | BaseModel | None,
                      where: str) -> BaseModel:
        """Validate ``options`` against ``name``'s options model; errors name the field at ``where``."""
        model = self.get(name).options
        if isinstance(options, model):
            return options
        if isinstance(options, BaseModel):
            options = options.model_dump()
        try:
            return model.model_validate(options or {})
        except ValidationError as err:
            raise ValueError(format_validation_error(err, where, model)) from None

    def create(self, name: str, options: dict[str, Any] | BaseModel | None = None,
               **kwargs: Any) -> Any:
        parsed = self.parse_options(name, options, f"{self.kind} {name!r} options")
        factory = self.get(name).factory
        if factory.__module__.split(".")[0] == "g2d":
            return factory(parsed, **kwargs)
        from g2d.plugins import PLUGIN_FAILURES, describe_failure

        try:  # a plugin's piece: its failure (an exit too) is named as the plugin's, not a traceback
            return factory(parsed, **kwargs)
        except G2DError:  # the plugin's own named error (a DataError naming a file, …)
            raise
        except PLUGIN_FAILURES as err:
            raise ConfigError(f"{self.kind} {name!r} (plugin {factory.__module__}.{factory.__qualname__}) failed: "
                              f"{describe_failure(err)}") from err


def format_validation_error(err: ValidationError, where: str = "", model: type[BaseModel] | None = None) -> str:
    """One line per problem — dotted field path (under ``where``), what was wrong, what arrived —
    joined for display under an "invalid configuration:" header. With ``model``, an unknown key
    suggests the closest field name ("did you mean …")."""
    lines = []
    for problem in err.errors():
        loc = ".".join(str(p) for p in problem["loc"] if p != "__root__")
        field = ".".join(part for part in (where, loc) if part)
        msg = problem["msg"].removeprefix("Value error, ")
        got = problem.get("input")
        shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
        if problem["type"] == "extra_forbidden" and model is not None:
            siblings = field_names_at(model, problem["loc"][:-1])
            shown = (did_you_mean(problem["loc"][-1], siblings) + f" (known keys: {', '.join(siblings)})"
                     if siblings else shown)
        lines.append(f"{field}: {msg}{shown}" if field else msg)
    return "\n  ".join(lines)


class PathMarker:
    """Marks an options field as a file-system path (see :data:`ConfigPath`)."""

    def __repr__(self) -> str:
        return "ConfigPath"


#: An options field holding a file or folder path. A relative value is resolved when the config is
#: validated: against the config file's folder (a ``--set`` value: the working folder; a dict given
#: to the Python API: the working folder), so the validated config — and the run folder's
#: ``config.yaml`` — holds absolute paths that work from any folder.
ConfigPath = Annotated[str, PathMarker()]


def _marks_path(annotation: Any, metadata: list[Any]) -> bool:
    if any(isinstance(m, PathMarker) for m in metadata):
        return True
    if typing.get_origin(annotation) is Annotated:
        return any(isinstance(m, PathMarker) for m in annotation.__metadata__)
    return any(_marks_path(arg, []) for arg in typing.get_args(annotation))


def path_fields(model: type[BaseModel]) -> list[str]:
    """The names of ``model``'s fields declared as :data:`ConfigPath` (also inside ``| None``)."""
    return [name for name, field in model.model_fields.items() if _marks_path(field.annotation, field.metadata)]


def absolute_path(value: str, base: Path) -> str:
    """``value`` with ``~`` expanded, made absolute against ``base`` and normalised lexically (``..``
    removed without following symlinks, so ``configs/../data`` means what it says even when
    ``configs`` is a link)."""
    path = os.path.expanduser(value)
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(os.path.abspath(base), path))


class Options(BaseModel):
    """Base for every component's typed options: unknown keys are errors, and a component may
    check itself against the experiment (modalities, task, epochs) once that is known."""

    model_config = ConfigDict(extra="forbid")

    def check_against(self, context: "ExperimentContext") -> None:
        """Raise ``ValueError`` naming the field when these options cannot serve ``context``."""

    def with_absolute_paths(self, base: Path, bases: dict[str, Path] | None = None) -> "Options":
        """A copy whose :data:`ConfigPath` fields are absolute: relative ones joined to ``base``, or to
        ``bases[field]`` where a field's value came from elsewhere (a ``--set`` on the command line)."""
        changes = {name: absolute_path(getattr(self, name), (bases or {}).get(name, base))
                   for name in path_fields(type(self)) if getattr(self, name) is not None}
        return self.model_copy(update=changes)


@dataclass(frozen=True)
class ExperimentContext:
    """What a component's options are checked against at config load."""

    modalities: tuple[str, ...]
    task: str
    epochs: int


class NoOptions(Options):
    """Options model for entries that take no options."""

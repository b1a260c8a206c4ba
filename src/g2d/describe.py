"""What a registered piece accepts, read from its registration: every option's name, type, default
and description from its pydantic options model. One source for ``g2d methods`` (and ``fusions``,
``encoders``, ``datasets``, ``modulators``) and for the documentation's generated methods reference."""
from __future__ import annotations

import inspect
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from g2d.registry import Entry, PathMarker, Registry


@dataclass(frozen=True)
class OptionInfo:
    """One option of a registered piece, as a user writes it in a config."""

    name: str
    type: str
    default: str  # "required" when the option has none
    description: str


def type_name(annotation: Any) -> str:
    """A type as a config author reads it: ``list[int] | None``, ``'fixed' | 'adaptive'``, ``path``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        if any(isinstance(m, PathMarker) for m in annotation.__metadata__):
            return "path"
        return type_name(args[0])
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join(type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]" if inner else getattr(origin, "__name__", str(origin))
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type):
        return "options" if issubclass(annotation, BaseModel) else annotation.__name__
    return re.sub(r"\btyping\.", "", str(annotation))


def default_text(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "{…}"  # nested options: see their own fields
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)


def options_of(model: type[BaseModel]) -> list[OptionInfo]:
    """Every field of ``model`` in declaration order (inherited first), with its default."""
    rows = []
    for name, field in model.model_fields.items():
        if field.default is not PydanticUndefined:
            default = default_text(field.default)
        elif field.default_factory is not None:
            default = default_text(field.default_factory())
        else:
            default = "required"
        annotation = field.annotation
        if any(isinstance(m, PathMarker) for m in field.metadata):
            annotation = typing.Annotated[annotation, PathMarker()]
        rows.append(OptionInfo(name, type_name(annotation), default, " ".join((field.description or "").split())))
    return rows


def docstring(entry: Entry) -> str:
    """The factory's full docstring (the first line is the one-line summary ``g2d methods`` lists)."""
    return inspect.cleandoc(entry.factory.__doc__ or "") or "(no description)"


def format_list(registry: Registry) -> str:
    """``name  summary`` per registered piece, for ``g2d methods`` with no name."""
    names = registry.names()
    width = max((len(n) for n in names), default=0)
    return "\n".join(f"{n:<{width}}  {registry.get(n).doc}" for n in names)


def format_entry(registry: Registry, name: str) -> str:
    """A piece's docstring and a plain-text table of its options, for ``g2d methods NAME``."""
    entry = registry.get(name)
    rows = options_of(entry.options)
    lines = [f"{registry.kind} {name!r}", "", docstring(entry), ""]
    if not rows:
        return "\n".join(lines + ["options: none"])
    lines.append(f"options ({entry.options.__name__}):")
    for row in rows:
        lines.append(f"  {row.name}: {row.type} = {row.default}")
        if row.description:
            lines.append(f"      {row.description}")
    return "\n".join(lines)


def entry_markdown(registry: Registry, name: str, level: int = 3) -> str:
    """The same as Markdown: a heading, the docstring and a table of the options."""
    entry = registry.get(name)
    cell = lambda text: text.replace("|", "\\|").replace("\n", " ")  # noqa: E731
    parts = [f"{'#' * level} `{name}`", "", docstring(entry), ""]
    rows = options_of(entry.options)
    if not rows:
        return "\n".join(parts + ["No options.", ""])
    parts += [f"Options (`{entry.options.__module__}.{entry.options.__name__}`):", "",
              "| option | type | default | description |", "|---|---|---|---|"]
    # a code span cannot hold an escaped "|" in a Markdown table: types (``int | None``) are plain text
    code = lambda text: cell(text) if "|" in text else f"`{text}`"  # noqa: E731
    parts += [f"| `{r.name}` | {cell(r.type)} | {code(r.default)} | {cell(r.description)} |" for r in rows]
    return "\n".join(parts + [""])

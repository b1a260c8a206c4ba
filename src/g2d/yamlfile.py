"""YAML as g2d reads it: ``yaml.SafeLoader`` (no ``!!python`` tags, no objects) that also refuses a
key given twice in one mapping, instead of silently keeping the last value."""
from __future__ import annotations

from typing import Any

import yaml


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names the same key twice."""


class StrictSafeLoader(yaml.SafeLoader):
    """SafeLoader whose mappings refuse duplicate keys (the error gives both line numbers)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if first is not None:
                raise DuplicateKeyError(None, None, f"key {key!r} appears twice (first on line "
                                        f"{first.line + 1}); remove one of them", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """Parse one YAML document safely; duplicate keys raise :class:`DuplicateKeyError`
    (a :class:`yaml.YAMLError`)."""
    return yaml.load(text, Loader=StrictSafeLoader)  # noqa: S506 — a SafeLoader subclass

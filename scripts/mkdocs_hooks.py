"""mkdocs hook: the methods reference (``reference/methods.md``) generated from the registries at
build time — every method, modulator, fusion, encoder and data set with its docstring and every
option's type, default and description — so the docs cannot drift from the code. The text comes
from :mod:`g2d.describe`, the same code as ``g2d methods NAME``."""
from __future__ import annotations

from mkdocs.structure.files import File

PAGE = "reference/methods.md"
SECTIONS = [("Methods", "METHODS", "method.name"), ("Gradient modulators", "MODULATORS", "method.modulators[i].name"),
            ("Fusion modules", "FUSIONS", "model.fusion.name"), ("Encoders", "ENCODERS", "model.encoders.<modality>.name"),
            ("Data sets", "DATASETS", "data.name")]


def methods_reference() -> str:
    from g2d import catalog
    from g2d.describe import entry_markdown

    parts = ["# Methods reference (generated)",
             "Generated from the registered options models when the site is built (the same text as "
             "`g2d methods NAME`, `g2d modulators NAME`, `g2d fusions NAME`, `g2d encoders NAME`, `g2d datasets "
             "NAME`). What each method is for, and how they compare: [methods and baselines](../concepts/methods.md)."]
    for title, attr, key in SECTIONS:
        registry = getattr(catalog, attr)
        parts.append(f"## {title}\n\nChosen with `{key}`.")
        parts += [entry_markdown(registry, name) for name in registry.names() if ":" not in name]
    return "\n\n".join(parts) + "\n"


def on_files(files, config):
    files.append(File.generated(config, PAGE, content=methods_reference()))
    return files

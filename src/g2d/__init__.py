"""g2d: balanced multimodal learning with Gradient-Guided Distillation (G2D, ICCV 2025).

``import g2d`` is light: it imports neither torch nor the library. The public pieces are loaded on
first use (``g2d.G2DLoss`` imports :mod:`g2d.public`, which imports torch), so ``g2d --help`` and
``python -m g2d --version`` answer at once.
"""
from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from g2d.public import SMP, G2DLoss, G2DLossOutput, TeacherCache, TeacherOutputs


def _version() -> str:
    """The installed distribution's version; ``0+unknown`` for a source tree that was never installed."""
    try:
        return importlib.metadata.version("g2d")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


__version__ = _version()

#: public name -> the module that defines it, imported on first attribute access
_LAZY = {name: "g2d.public" for name in ("G2DLoss", "G2DLossOutput", "SMP", "TeacherCache", "TeacherOutputs")}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """Import a public piece on first use (PEP 562), so ``import g2d`` stays torch-free."""
    if name not in _LAZY:
        raise AttributeError(f"module 'g2d' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

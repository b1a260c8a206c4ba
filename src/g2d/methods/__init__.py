"""Training methods, one module each, registered in :data:`METHODS`."""
from g2d.methods.base import METHODS, Method, MethodContext
from g2d.plugins import import_submodules

__all__ = ["METHODS", "Method", "MethodContext", "build_method"]


def build_method(name: str, options: dict | None, context: MethodContext,
                 extra_modulators: list[dict] | None = None) -> Method:
    """Build method ``name`` and compose any extra modulators (``[{name, options}]``) onto it."""
    from g2d.modulators import build_modulator

    method = METHODS.create(name, options, context=context)
    method.add_modulators([build_modulator(m["name"], m.get("options"), context)
                           for m in extra_modulators or []])
    return method


import_submodules(__name__, __path__, skip={"base"})

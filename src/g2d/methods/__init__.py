"""Training methods, one module each, registered in :data:`METHODS`."""
from g2d.methods.base import METHODS, Method, MethodContext
from g2d.plugins import import_submodules

__all__ = ["METHODS", "Method", "MethodContext", "build_method"]


def build_method(name: str, options: dict | None, context: MethodContext,
                 extra_modulators: list[dict] | None = None) -> Method:
    """Build method ``name`` and compose any extra modulators (``[{name, options}]``) onto it."""
    from g2d.modulators import build_modulator
    from g2d.validation import ConfigError

    method = METHODS.create(name, options, context=context)
    extra = [build_modulator(m["name"], m.get("options"), context) for m in extra_modulators or []]
    own_step = type(method).training_step is not Method.training_step
    for spec, modulator in zip(extra_modulators or [], extra):
        if modulator.needs_default_step and own_step:
            raise ConfigError(f"method.modulators: {spec['name']!r} needs the default training step, and method "
                              f"{name!r} runs its own; compose it onto a method such as joint, g2d, g2d-loss or umt")
    method.add_modulators(extra)
    return method


import_submodules(__name__, __path__, skip={"base"})

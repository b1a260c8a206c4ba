"""Encoders: one module per family, registered in :data:`ENCODERS`; each exposes ``out_dim``."""
from g2d.encoders.registry import ENCODERS, build_encoder, init_weights
from g2d.plugins import import_submodules

import_submodules(__name__, __path__, skip={"registry"})

__all__ = ["ENCODERS", "build_encoder", "init_weights"]

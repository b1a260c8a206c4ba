"""Fusion modules: features of every modality -> fused logits and per-modality logits."""
from g2d.fusion.base import FUSIONS, Fusion, FusionOutput, build_fusion
from g2d.plugins import import_submodules

import_submodules(__name__, __path__, skip={"base"})

__all__ = ["FUSIONS", "Fusion", "FusionOutput", "build_fusion"]

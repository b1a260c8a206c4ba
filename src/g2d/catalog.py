"""Imports every built-in plugin module so all registries are filled; the one place that does."""
from g2d.data import DATASETS
from g2d.encoders import ENCODERS
from g2d.fusion import FUSIONS
from g2d.methods import METHODS
from g2d.modulators import MODULATORS

__all__ = ["DATASETS", "ENCODERS", "FUSIONS", "METHODS", "MODULATORS"]

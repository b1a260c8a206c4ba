"""Imports every built-in plugin module so all registries are filled, then the installed packages'
``g2d.plugins`` entry points; the one place that does."""
from g2d.data import DATASETS
from g2d.encoders import ENCODERS
from g2d.fusion import FUSIONS
from g2d.methods import METHODS
from g2d.modulators import MODULATORS
from g2d.plugins import load_entry_points

load_entry_points()

__all__ = ["DATASETS", "ENCODERS", "FUSIONS", "METHODS", "MODULATORS"]

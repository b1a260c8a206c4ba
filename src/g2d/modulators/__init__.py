"""Gradient modulators (SMP, and the baselines' per-modality gradient rules), one module each."""
from g2d.modulators.base import (MODULATORS, Modulator, ModulatorContext, StepState,
                                 build_modulator)
from g2d.plugins import import_submodules

import_submodules(__name__, __path__, skip={"base"})

__all__ = ["MODULATORS", "Modulator", "ModulatorContext", "StepState", "build_modulator"]

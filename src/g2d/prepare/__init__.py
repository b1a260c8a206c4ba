"""``g2d prepare``: raw downloads (video, audio, feature pickles) -> the layouts g2d's loaders read,
with fixed splits, recorded preprocessing (``prepare.json``), checksums, resume and skip lists.

One module per data set, each registered in :data:`PREPARERS`; :mod:`.base` holds the shared
machinery, :mod:`.media` the decoding (PyAV). The core never imports this package.
"""
from __future__ import annotations

from g2d.prepare import ave, cremad, kinetics_sounds, multibench, vggsound  # noqa: F401 - registers the data sets
from g2d.prepare.base import (PREPARERS, MediaOptions, PrepareError, PrepareResult, VerifyReport, compare, prepare,
                              read_manifest, verify)
from g2d.prepare.media import BadClip, MissingMediaLibrary

__all__ = ["PREPARERS", "BadClip", "MediaOptions", "MissingMediaLibrary", "PrepareError", "PrepareResult",
           "VerifyReport", "compare", "prepare", "read_manifest", "verify"]

"""Which software produced a result: recorded in every student's ``result.json`` and teacher's
``card.json``, so that results trained by different code are never compared unknowingly.

A development checkout keeps one version string across many commits; the fingerprint of the
package's own source files tells them apart (and works for a wheel install, which has no git)."""
from __future__ import annotations

import functools
import hashlib
import platform
from pathlib import Path
from typing import Any


@functools.cache
def source_fingerprint() -> str:
    """SHA-256 (first 16 hex digits) of every ``.py`` file of the imported g2d package, by relative path."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def software() -> dict[str, Any]:
    """g2d's version and source fingerprint, torch's and Python's versions."""
    import torch

    import g2d

    return {"g2d": g2d.__version__, "g2d_source": source_fingerprint(), "torch": torch.__version__,
            "python": platform.python_version()}

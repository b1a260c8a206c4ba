"""Reporting: text tables (:mod:`.table`), figures (:mod:`.curves`, :mod:`.checkpoint`) and the
self-contained HTML report (:func:`build_report`)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from g2d.report.build import Report


def build_report(*args: Any, **kwargs: Any) -> "Report":
    """See :func:`g2d.report.build.build_report` (imported lazily: it loads matplotlib)."""
    from g2d.report.build import build_report as build

    return build(*args, **kwargs)

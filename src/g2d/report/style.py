"""Figure style: one colour per modality and per method, the same in every figure of a report.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot), so they render with
the Agg backend headlessly and never touch a user's interactive backend.
"""
from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import matplotlib
from matplotlib.figure import Figure

F = TypeVar("F", bound=Callable[..., Any])

#: Okabe–Ito, readable for colour-blind readers.
MODALITY_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
METHOD_COLOURS = ["#1F77B4", "#2CA02C", "#9467BD", "#8C564B", "#17BECF", "#BCBD22", "#E377C2", "#FF7F0E"]
FIXED_METHOD_COLOURS = {"joint": "#4D4D4D", "g2d": "#C0392B"}
TEACHER_COLOUR = "#7F7F7F"

RC = {"font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "legend.fontsize": 8,
      "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
      "svg.hashsalt": "g2d", "svg.fonttype": "none"}


def method_order(names: Iterable[str]) -> list[str]:
    """Baselines first (``joint`` leading), then the rest alphabetically, ``g2d`` last."""
    unique = list(dict.fromkeys(names))
    rank = lambda n: (0 if n == "joint" else 2 if n == "g2d" else 1, n)  # noqa: E731
    return sorted(unique, key=rank)


@dataclass
class Palette:
    """Colours fixed once for the whole report."""

    modalities: dict[str, str] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, modalities: Iterable[str], methods: Iterable[str]) -> "Palette":
        mods = list(dict.fromkeys(modalities))
        palette = cls({m: MODALITY_COLOURS[i % len(MODALITY_COLOURS)] for i, m in enumerate(mods)})
        free = iter(METHOD_COLOURS * 4)
        for name in method_order(methods):
            palette.methods[name] = FIXED_METHOD_COLOURS.get(name) or next(free)
        return palette

    def modality(self, name: str) -> str:
        return self.modalities.get(name, "#333333")

    def method(self, name: str) -> str:
        return self.methods.get(name, "#333333")


def styled(fn: F) -> F:
    """Run a figure builder under the report's rc settings (they apply when artists are made)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(RC):
            return fn(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


#: Width in inches of a figure that spans the report's page (≈ 1390 px at the 110 dpi of :func:`render`);
#: the page shows every figure at most at its natural size, so this is how wide figures appear.
PAGE_WIDTH = 12.6


def new_figure(rows: int, cols: int, width: float | None = None, height: float = 2.9) -> tuple[Figure, list[list]]:
    """A figure of ``rows × cols`` panels (always a 2-D list of axes). Without ``width``, the panels
    share :data:`PAGE_WIDTH` (at least 3.2 in each), and a panel alone on its row gets taller, so a
    figure fills the page instead of a narrow column."""
    if width is None:
        width = max(3.2, PAGE_WIDTH / cols)
        height = max(height, min(0.33 * width, 4.2))
    fig = Figure(figsize=(width * cols, height * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, [list(r) for r in axes]


def render(fig: Figure, stem: Path | None = None) -> bytes:
    """PNG bytes of ``fig``; with ``stem`` also writes ``stem.png`` and ``stem.svg``."""
    with matplotlib.rc_context(RC):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        png = buf.getvalue()
        if stem is not None:
            stem.parent.mkdir(parents=True, exist_ok=True)
            stem.with_suffix(".png").write_bytes(png)
            fig.savefig(stem.with_suffix(".svg"), format="svg", metadata={"Date": None})
    return png

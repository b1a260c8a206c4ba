"""Figures of the selected checkpoints on the test split (from :mod:`g2d.analysis.posthoc`):
the modality-gap projection and the missing-modality curve. One row of panels per run."""
from __future__ import annotations

from matplotlib.figure import Figure

from g2d.report.curves import METRIC_LABELS, off, scale
from g2d.report.runs import RunRecord
from g2d.report.style import Palette, method_order, new_figure, styled


def _with(runs: list[RunRecord], key: str) -> list[str]:
    return method_order(m for r in runs for m, res in r.posthoc.items() if res.get("test", {}).get(key)
                        or (key == "missing" and res.get("missing")))


@styled
def gap_projection(runs: list[RunRecord], palette: Palette) -> Figure | None:
    """2-D PCA of each modality's unit-normalised test embeddings (paper Fig. 4); crosses mark
    the centroids, the title gives their distance in the full space."""
    methods = _with(runs, "projection")
    if not methods:
        return None
    fig, axes = new_figure(len(runs), len(methods), width=4.2, height=3.6)
    for j, run in enumerate(runs):
        for i, method in enumerate(methods):
            ax = axes[j][i]
            test = run.posthoc.get(method, {}).get("test", {})
            proj = test.get("projection")
            if not proj:
                off(ax, f"{method}: not available (see notes)")
                continue
            for mod, pts in proj["points"].items():
                colour = palette.modality(mod)
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=7, alpha=0.35, color=colour,
                           label=mod, linewidths=0)
            for mod, (cx, cy) in proj["centroids"].items():
                ax.scatter([cx], [cy], marker="X", s=90, color=palette.modality(mod), edgecolors="black",
                           linewidths=0.8, zorder=3)
            gap = test["gap"]
            ax.set_title(f"{run.label}: {method}\ngap {gap['distance']:.3f} ({gap['space']})")
            ev = proj["explained"]
            ax.set_xlabel(f"PC 1 ({100 * ev[0]:.0f} % of variance)")
            ax.set_ylabel(f"PC 2 ({100 * ev[1]:.0f} % of variance)")
            ax.legend(frameon=False, markerscale=2)
    return fig


@styled
def missing_curves(runs: list[RunRecord], palette: Palette) -> Figure | None:
    """Fused test metric when a share of the modality inputs is zeroed at test time (at least one
    modality kept per sample). Hollow markers: rate capped at (M−1)/M, see the table."""
    methods = _with(runs, "missing")
    if not methods:
        return None
    fig, axes = new_figure(1, len(runs))
    for j, run in enumerate(runs):
        ax = axes[0][j]
        key = run.key_metric
        k = scale(key)
        if not any(run.posthoc.get(m, {}).get("missing") for m in methods):
            off(ax, "not available (see notes)")
            ax.set_title(f"{run.label}: missing modalities at test time")
            continue
        for method in methods:
            curve = run.posthoc.get(method, {}).get("missing")
            if not curve:
                continue
            x = [100 * p["rate"] for p in curve]
            y = [k * p["metrics"][key] for p in curve]
            colour = palette.method(method)
            ax.plot(x, y, color=colour, lw=1.6, label=method)
            capped = [abs(p["realised_rate"] - p["rate"]) > 0.01 for p in curve]
            ax.scatter(x, y, s=22, zorder=3, color=[("white" if c else colour) for c in capped],
                       edgecolors=colour)
        ax.set_title(f"{run.label}: missing modalities at test time")
        ax.set_xlabel("miss rate (% of modality inputs zeroed)")
        ax.set_ylabel(f"test {METRIC_LABELS.get(key, key)}")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False)
    return fig

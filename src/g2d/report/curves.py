"""Figures over training epochs, read from the logs: learning curves, teacher confidence ρ^m with
the SMP phases, feature alignment, confidence ratio, modality gap. One row of panels per run."""
from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from g2d.analysis.logs import series, smp_schedule
from g2d.report.runs import RunRecord
from g2d.report.style import TEACHER_COLOUR, Palette, method_order, new_figure, styled

METRIC_LABELS = {"accuracy": "accuracy (%)", "mae": "MAE (target units)", "mape": "MAPE (%)", "r2": "R² (1 = perfect)"}
PERCENT = {"accuracy"}


def scale(metric: str) -> float:
    return 100.0 if metric in PERCENT else 1.0


def _methods(runs: list[RunRecord], has: callable) -> list[str]:
    return method_order(m for r in runs for m in r.methods if has(r, m))


def _finish(ax, xlabel: str, ylabel: str, legend: bool = True) -> None:
    if xlabel == "epoch":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False)


def off(ax, text: str = "not recorded") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.set_xticks([])
    ax.set_yticks([])


@styled
def learning_curves(runs: list[RunRecord], palette: Palette) -> Figure:
    """Validation metric per epoch: fused (first panel) and each modality's own output z_s^m; stars
    mark the selected epoch, the dashed line the modality's unimodal teacher at its selected epoch."""
    cols = 1 + max(len(r.modalities) for r in runs)
    fig, axes = new_figure(len(runs), cols)
    for j, run in enumerate(runs):
        key, k = run.key_metric, scale(run.key_metric)
        for i in range(cols):
            ax = axes[j][i]
            if i > len(run.modalities):
                ax.set_axis_off()
                continue
            mod = None if i == 0 else run.modalities[i - 1]
            for method in method_order(run.methods):
                path = ("val", key) if mod is None else ("val", f"modality_{key}", mod)
                x, y = series(run.histories[method], *path)
                colour = palette.method(method)
                ax.plot(x, [v * k for v in y], color=colour, label=method, lw=1.6)
                chosen = run.summary["methods"][method].get("selected_epoch")
                if chosen in x:
                    ax.plot([chosen], [y[x.index(chosen)] * k], marker="*", ms=10, color=colour, ls="none")
            teacher = run.summary["teachers"].get(mod, {}).get("val", {}).get(key) if mod else None
            if teacher is not None:
                ax.axhline(teacher * k, color=TEACHER_COLOUR, ls="--", lw=1.2, label=f"teacher ({mod}), selected")
            ax.set_title(f"{run.label}: {'fused' if mod is None else mod}")
            _finish(ax, "epoch", f"val {METRIC_LABELS.get(key, key)}")
    return fig


@styled
def confidence_curves(runs: list[RunRecord], palette: Palette) -> Figure | None:
    """Teachers' confidence ρ^m on the training batches, per epoch; shaded: the SMP phases, in
    the colour of the modality that was prioritised (the only encoder learning), named in the legend."""
    has = lambda r, m: any(row.get("confidence") for row in r.histories[m])  # noqa: E731
    methods = _methods(runs, has)
    if not methods:
        return None
    fig, axes = new_figure(len(runs), len(methods))
    for j, run in enumerate(runs):
        for i, method in enumerate(methods):
            ax = axes[j][i]
            if method not in run.methods or not has(run, method):
                off(ax, f"{method}: no teacher confidence")
                continue
            history = run.histories[method]
            for mod in run.modalities:
                x, y = series(history, "confidence", mod)
                ax.plot(x, y, color=palette.modality(mod), label=mod, lw=1.6, marker="o", ms=2.5)
            phases = smp_phase_patches(ax, smp_schedule(history), palette)
            ax.set_title(f"{run.label}: {method}")
            what = "mean p(true label)" if run.task == "classification" else "1 − mean |error|"
            _finish(ax, "epoch", rf"teacher confidence $\rho^m$ ({what})", legend=False)
            # beside the panel, not on it: short adjacent phases never overlap a label or a curve
            ax.legend(handles=ax.get_legend_handles_labels()[0] + phases, frameon=False, loc="upper left",
                      bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig


def smp_phase_patches(ax, spans: list[dict], palette: Palette) -> list[Patch]:
    """Shade each SMP phase in its prioritised modality's colour; one legend entry per modality
    that was prioritised (a shaded band carries no text of its own)."""
    seen: dict[str, Patch] = {}
    for span in spans:
        colour = palette.modality(span["modality"])
        ax.axvspan(span["start"] - 0.5, span["end"] + 0.5, color=colour, alpha=0.13, lw=0)
        seen.setdefault(span["modality"], Patch(facecolor=colour, alpha=0.3, lw=0,
                                                label=f"SMP: {span['modality']} learns alone"))
    return list(seen.values())


def _per_modality_curves(runs: list[RunRecord], palette: Palette, key: str, ylabel: str,
                         reference: float | None = None) -> Figure | None:
    has = lambda r, m: any(row.get("analysis", {}).get(key) for row in r.histories[m])  # noqa: E731
    methods = _methods(runs, has)
    if not methods:
        return None
    cols = max(len(r.modalities) for r in runs)
    fig, axes = new_figure(len(runs), cols)
    for j, run in enumerate(runs):
        for i in range(cols):
            ax = axes[j][i]
            if i >= len(run.modalities):
                ax.set_axis_off()
                continue
            mod = run.modalities[i]
            weak = ""
            for method in methods:
                if method not in run.methods:
                    continue
                history = run.histories[method]
                x, y = series(history, "analysis", key, mod)
                ax.plot(x, y, color=palette.method(method), label=method, lw=1.6, marker="o", ms=2.5)
                if any(row.get("analysis", {}).get("weak_modality") == mod for row in history[-1:]):
                    weak = " (weakest teacher)"
            if reference is not None:
                ax.axhline(reference, color=TEACHER_COLOUR, ls=":", lw=1)
            ax.set_title(f"{run.label}: {mod}{weak}")
            _finish(ax, "epoch", ylabel)
    return fig


@styled
def alignment_curves(runs: list[RunRecord], palette: Palette) -> Figure | None:
    """Cosine similarity between the student's and the teacher's features of each modality, on the
    validation split after each epoch (paper Fig. 5)."""
    return _per_modality_curves(runs, palette, "alignment", r"cosine similarity $f_s^m$ vs $f_t^m$")


@styled
def confidence_ratio_curves(runs: list[RunRecord], palette: Palette) -> Figure | None:
    """Student's mean true-label confidence through ``z_s^m`` over its teacher's, per epoch on the
    validation split (paper Fig. 6); 1 = as confident as the modality alone."""
    return _per_modality_curves(runs, palette, "confidence_ratio", "confidence ratio (student / teacher)",
                                reference=1.0)


@styled
def gap_curves(runs: list[RunRecord], palette: Palette) -> Figure | None:
    """Distance between the modalities' normalised embedding centroids per epoch (validation)."""
    has = lambda r, m: any(row.get("analysis", {}).get("gap") for row in r.histories[m])  # noqa: E731
    methods = _methods(runs, has)
    if not methods:
        return None
    fig, axes = new_figure(1, len(runs))
    for j, run in enumerate(runs):
        ax = axes[0][j]
        space = ""
        for method in methods:
            if method in run.methods:
                x, y = series(run.histories[method], "analysis", "gap", "distance")
                ax.plot(x, y, color=palette.method(method), label=method, lw=1.6, marker="o", ms=2.5)
                space = next((r["analysis"]["gap"]["space"] for r in run.histories[method]
                              if r.get("analysis", {}).get("gap")), space)
        ax.set_title(f"{run.label}: modality gap ({space})")
        _finish(ax, "epoch", "centroid distance (unit-norm embeddings, 0–2)")
    return fig

"""A ``g2d tune`` run folder in the report: the optimisation history and the trials table, read
from ``RUN/tune.json``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from g2d import io
from g2d.report.html import esc, table
from g2d.report.style import new_figure, styled

STATE_COLOURS = {"complete": "#0072B2", "pruned": "#BBBBBB", "fail": "#D55E00"}


def is_tune_run(path: str | Path) -> bool:
    return (Path(path) / "tune.json").exists()


def load_tune(path: str | Path) -> dict[str, Any]:
    return io.read_json(Path(path) / "tune.json")


@styled
def history_figure(summary: dict[str, Any]) -> Figure:
    """Objective (validation metric at each trial's selected epoch) per trial, the best so far as a
    line; pruned trials at their last reported value, grey."""
    fig, axes = new_figure(1, 1, height=3.2)
    ax = axes[0][0]
    maximize = summary["direction"] == "maximize"
    best, xs, ys = None, [], []
    for state in ("complete", "pruned", "fail"):
        points = [(r["trial"], r["value"]) for r in summary["trials"] if r["state"] == state and r["value"] is not None]
        if points:
            ax.scatter(*zip(*points), s=18, color=STATE_COLOURS[state], label=state, zorder=3)
    for r in summary["trials"]:
        if r["state"] == "complete":
            best = r["value"] if best is None else (max if maximize else min)(best, r["value"])
        if best is not None:
            xs.append(r["trial"])
            ys.append(best)
    ax.step(xs, ys, where="post", color="#C0392B", label="best so far")
    if summary.get("default") and summary["default"]["value"] is not None:
        ax.axhline(summary["default"]["value"], color="#4D4D4D", ls="--", lw=0.8, label="the config's own values")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(f"val {summary['metric']}")
    ax.legend(frameon=False)
    return fig


def trials_table(summary: dict[str, Any]) -> str:
    keys = list(summary["space"]["params"])
    rows = []
    for r in summary["trials"]:
        epoch = r["selected_epoch"] if r["state"] == "complete" else r.get("pruned_at_epoch")
        rows.append([r["trial"], r["state"], "–" if r["value"] is None else f"{r['value']:.4f}", epoch if epoch is not None else "–",
                     *[_short(r["params"].get(k)) for k in keys]])
    best = summary["best"]
    caption = (f"Best: trial {best['trial']}, val {summary['metric']} {best['value']:.4f} "
               f"({summary['direction']}d); its experiment is best.yaml.")
    return f"<p>{esc(caption)}</p>" + table(["trial", "state", f"val {summary['metric']}", "epoch", *keys], rows)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "–" if value is None else str(value)

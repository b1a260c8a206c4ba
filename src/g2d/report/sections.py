"""The report's tables, one function per section, each returning HTML for all runs side by side."""
from __future__ import annotations

from typing import Any

from g2d.analysis.cost import cost_summary, overhead
from g2d.analysis.logs import smp_schedule
from g2d.metrics import higher_is_better
from g2d.report.curves import METRIC_LABELS, scale
from g2d.report.html import card, esc, fmt, row, table
from g2d.report.runs import RunRecord
from g2d.report.style import method_order
from g2d.report.table import results_grid

REGRESSION_METRICS = ("mae", "mape", "r2")


def overview(runs: list[RunRecord]) -> str:
    header = ["run", "data set", "task", "modalities", "train / val / test", "students", "epochs", "seed", "folder"]
    rows = []
    for run in runs:
        first = run.methods[0]
        sizes = run.data.get("sizes", {})
        rows.append([run.label, run.config_value(first, "data", "name", default="?"), run.task,
                     ", ".join(run.modalities), " / ".join(str(sizes.get(s, "?")) for s in ("train", "val", "test")),
                     ", ".join(method_order(run.methods)), run.config_value(first, "student", "epochs", default="?"),
                     run.config_value(first, "seed", default="?"), str(run.path)])
    return table(header, rows)


def results(runs: list[RunRecord]) -> str:
    cards = []
    for run in runs:
        methods = method_order(run.methods)
        metrics = ["accuracy"] if run.task == "classification" else list(REGRESSION_METRICS)
        parts = []
        for metric in metrics:
            header, grid = results_grid(run.summary, metric, methods, run.modalities)
            better = max if higher_is_better(metric) else min
            k, digits = scale(metric), 2 if metric in ("accuracy", "mape") else 4
            cells, classes = [], []
            for r in grid:
                values = [v for v in r[2:] if v is not None]
                best = better(values) if values else None
                cells.append([r[0]] + [fmt(v, digits, k) for v in r[1:]])
                classes.append(["", "teacher"] + ["best" if v is not None and v == best else "" for v in r[2:]])
            epochs = ["selected epoch", "–"] + [str(run.summary["methods"][m].get("selected_epoch", "–"))
                                                  for m in methods]
            parts.append(table(header, cells + [epochs], f"test {METRIC_LABELS.get(metric, metric)}",
                               classes + [[""] * len(epochs)]))
        cards.append(card(run.label, "".join(parts)))
    return row(cards)


def smp_table(runs: list[RunRecord]) -> str:
    cards = []
    for run in runs:
        rows = []
        for method in method_order(run.methods):
            spans = smp_schedule(run.histories[method])
            text = "; ".join(f"{s['modality']} alone, epochs {s['start']}–{s['end']} ({100 * s['share']:.0f} % "
                             f"of steps)" for s in spans) or "none: every encoder learns in every step"
            rows.append([method, text])
        cards.append(card(run.label, table(["student", "prioritised modality (SMP)"], rows)))
    return row(cards)


def diagnosis_table(runs: list[RunRecord]) -> str:
    """Per run with a ``diagnosis.json``: teachers, the joint probe, the neglected modality."""
    cards = []
    for run in runs:
        d = run.diagnosis
        if not d:
            continue
        metric = d["metric"]
        rows = [[m + (" (neglected)" if m == d["neglected"] else ""), fmt(v["teacher_val"], 4),
                 fmt(v["probe_val"], 4), f"{v['skill_share']:.0%}" if "skill_share" in v else "–",
                 fmt(v["teacher_rho_train"], 3), fmt(v["confidence_ratio"], 3)]
                for m, v in d["modalities"].items()]
        rec = d["recommended"]
        text = (f"<p>Least confident teacher: {esc(d['least_confident_teacher'])}; paper ranking agrees: "
                f"{'yes' if d['paper_ranking_agrees'] else 'no'}. Recommended: ranking <code>{esc(rec['ranking'])}"
                f"</code>, order {esc(', '.join(rec['order']))}, schedule <code>{esc(rec['schedule'])}</code>. "
                f"{esc(rec['reason'])}.</p>")
        probe = d.get("probe")
        read = (f"epoch {probe['selected_epoch']} of {probe['epochs']}" if probe else
                f"{d.get('probe_epochs', '?')} epochs")
        header = ["modality", f"teacher val {metric}", f"joint probe z_s val {metric} ({read})",
                  "share of its teacher's skill", "teacher ρ (train)", "ratio ρ_s/ρ_t"]
        cards.append(card(run.label, table(header, rows) + text))
    return row(cards)


def _posthoc_value(run: RunRecord, method: str, *path: str) -> Any:
    node: Any = run.posthoc.get(method, {})
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def per_modality_table(runs: list[RunRecord], key: str, digits: int = 3) -> str:
    """Rows: students; columns: modalities; ``test[key][modality]`` at the selected checkpoint."""
    cards = []
    for run in runs:
        weak = next((r.get("weak_modality") for r in run.posthoc.values() if r.get("weak_modality")), None)
        methods = [m for m in method_order(run.methods) if _posthoc_value(run, m, "test", key)]
        if not methods:
            continue
        header = ["student"] + [f"{m} (weakest teacher)" if m == weak else m for m in run.modalities]
        rows = [[m] + [fmt(_posthoc_value(run, m, "test", key, mod), digits) for mod in run.modalities]
                for m in methods]
        cards.append(card(f"{run.label}: test, selected checkpoint", table(header, rows)))
    return row(cards)


def gap_table(runs: list[RunRecord]) -> str:
    cards = []
    for run in runs:
        rows = []
        for m in method_order(run.methods):
            gap = _posthoc_value(run, m, "test", "gap")
            if gap:
                pairs = ", ".join(f"{p.replace('|', '–')} {v:.3f}" for p, v in gap["pairs"].items())
                rows.append([m, fmt(gap["distance"], 3), gap["space"], pairs])
        if rows:
            cards.append(card(f"{run.label}: test, selected checkpoint",
                              table(["student", "gap (mean)", "space", "pairs"], rows)))
    return row(cards)


def missing_table(runs: list[RunRecord]) -> str:
    cards = []
    for run in runs:
        methods = [m for m in method_order(run.methods) if _posthoc_value(run, m, "missing")]
        if not methods:
            continue
        key, k = run.key_metric, scale(run.key_metric)
        curve0 = run.posthoc[methods[0]]["missing"]
        rows = []
        for i, point in enumerate(curve0):
            label = f"{100 * point['rate']:.0f} % (applied {100 * point['realised_rate']:.1f} %)"
            rows.append([label] + [fmt(run.posthoc[m]["missing"][i]["metrics"][key], 2 if k > 1 else 4, k)
                                   for m in methods])
        cards.append(card(f"{run.label}: test {METRIC_LABELS.get(key, key)}",
                          table(["miss rate"] + methods, rows)))
    return row(cards)


def cost_table(runs: list[RunRecord]) -> str:
    cards = []
    for run in runs:
        methods = method_order(run.methods)
        summaries = {m: cost_summary(run.histories[m]) for m in methods}
        base = summaries.get("joint")
        rows = []
        for m in methods:
            s = summaries[m]
            vs = (lambda key, d: "baseline" if m == "joint" else  # noqa: E731
                  fmt(overhead(s[key], base and base[key]), d, suffix=" %"))
            rows.append([m, fmt(s["step_time_ms"], 2), vs("step_time_ms", 1),
                         fmt(s["peak_memory_mb"], 1), vs("peak_memory_mb", 2),
                         s["memory"] or "not recorded", s["device"] or "–", fmt(s["steps_per_epoch"], 0)])
        header = ["student", "time / step (ms)", "vs joint", "peak memory (MiB)", "vs joint", "memory measured",
                  "device", "steps / epoch"]
        cards.append(card(run.label, table(header, rows)))
    return row(cards)


def _value(metric: str, value: float) -> str:
    return f"{100 * value:.1f} %" if metric == "accuracy" else f"{METRIC_LABELS.get(metric, metric).split(' ')[0]} {value:.4g}"


def headline(run: RunRecord) -> str | None:
    """One line computed from the run's test results (selected checkpoints): the G2D student (or
    the best one) against joint training on the fused metric, then the modality joint training
    neglects most — lowest own-output metric relative to its teacher — inside that student against
    its unimodal teacher (and inside joint). None when the run has nothing to compare."""
    metric, methods = run.key_metric, run.summary["methods"]
    fused = {m: r["test"].get(metric) for m, r in methods.items() if r["test"].get(metric) is not None}
    if not fused:
        return None
    better = max if higher_is_better(metric) else min
    main = "g2d" if "g2d" in fused else better(fused, key=fused.get)
    line = f"{main} {_value(metric, fused[main])}"
    if "joint" in fused and main != "joint":
        line += f" vs joint {_value(metric, fused['joint'])}"
    own = lambda m: methods[m]["test"].get(f"modality_{metric}", {})  # noqa: E731
    teachers = {mod: t["test"][metric] for mod, t in run.summary["teachers"].items()
                if t.get("test", {}).get(metric) is not None and mod in own(main)}
    if not teachers:
        return line
    reference = "joint" if "joint" in fused and set(teachers) <= set(own("joint")) else main
    # how far each modality's own output falls short of its teacher inside the reference student
    shortfall = {mod: (own(reference)[mod] / t if higher_is_better(metric) else t / own(reference)[mod])
                 if t and own(reference)[mod] else 1.0 for mod, t in teachers.items()}
    mod = min(shortfall, key=shortfall.get)
    line += (f"; {mod} modality in-student {_value(metric, own(main)[mod])} vs teacher "
             f"{_value(metric, teachers[mod])}")
    if reference == "joint" and main != "joint":
        line += f" (joint {_value(metric, own('joint')[mod])})"
    return line

"""``build_report``: one self-contained HTML page comparing run folders, plus PNG/SVG figures."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from matplotlib.figure import Figure

from g2d import io
from g2d.analysis.posthoc import analyse_run
from g2d.report import checkpoint, curves, sections, tuning
from g2d.report.html import esc, figure, legend, page, section
from g2d.report.runs import RunRecord, load_run, unique_labels
from g2d.report.style import Palette, render
from g2d.validation import G2DError


@dataclass
class Report:
    path: Path
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


Builder = Callable[[list[RunRecord], Palette], "Figure | None"]


def _figure(name: str, builder: Builder, runs: list[RunRecord], palette: Palette, fig_dir: Path,
            report: Report, missing: str) -> str:
    """Render one figure (PNG+SVG beside the report) and its HTML; a note when there is no data."""
    fig = builder(runs, palette)
    if fig is None:
        report.notes.append(f"{name}: {missing}")
        return f'<p class="note">No data: {esc(missing)}.</p>'
    stem = fig_dir / name
    png = render(fig, stem)
    report.figures += [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    rel = [f"{fig_dir.name}/{name}.png", f"{fig_dir.name}/{name}.svg"]
    caption = " ".join((builder.__doc__ or "").replace("``", "").split())
    return figure(png, name.replace("_", " "), caption, rel)


def build_report(run_dirs: list[str | Path], out: str | Path, *, posthoc: bool = True, device: str | None = None,
                 refresh: bool = False, title: str | None = None) -> Report:
    """Write ``out`` (HTML) and ``<out stem>_figures/`` for the runs in ``run_dirs``.

    ``posthoc`` loads each student's selected checkpoint to measure, on the test split, the
    alignment, confidence ratio, modality gap and missing-modality curve (cached in
    ``RUN/analysis/``); without it the report shows what the training logs hold.
    """
    if not run_dirs:
        raise G2DError("report: give at least one run folder")
    out = Path(out)
    report = Report(out)
    fig_dir = out.parent / f"{out.stem}_figures"
    studies = [Path(p) for p in run_dirs if tuning.is_tune_run(p)]  # `g2d tune` folders: trials, not students
    run_dirs = [p for p in run_dirs if not tuning.is_tune_run(p)]
    body = [_tuning_section(p, label, f"tuning_history{'' if len(studies) == 1 else f'_{i + 1}'}", fig_dir, report)
            for i, (p, label) in enumerate(zip(studies, unique_labels(studies) if studies else []))]
    headlines: list[str] = []
    if run_dirs:
        runs = _load_runs(run_dirs, report, posthoc, device, refresh)
        lines = [(run.label, sections.headline(run)) for run in runs]
        headlines = [f"{label}: {line}" if len(runs) > 1 else line for label, line in lines if line]
        body = _run_sections(runs, fig_dir, report) + body
    if report.notes:
        body.append(section("notes", "Notes", "What could not be shown, and why.",
                            "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in report.notes) + "</ul>"))
    names = unique_labels([Path(p) for p in [*run_dirs, *studies]])
    subtitle = (f"{len(names)} run(s): {', '.join(names)} · generated "
                f"{time.strftime('%Y-%m-%d %H:%M')} by g2d report")
    io.write_text(out, page(title or "g2d report", subtitle, body, headlines))
    out.chmod(0o644)  # a report is meant to be shared (atomic writes create 0600 files)
    return report


def _tuning_section(path: Path, label: str, name: str, fig_dir: Path, report: Report) -> str:
    """A `g2d tune` folder: its optimisation history (figure ``name``) and trials table."""
    summary = tuning.load_tune(path)
    stem = fig_dir / name
    png = render(tuning.history_figure(summary), stem)
    report.figures += [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    caption = " ".join((tuning.history_figure.__doc__ or "").split())
    body = figure(png, "optimisation history", caption, [f"{fig_dir.name}/{name}.png", f"{fig_dir.name}/{name}.svg"])
    return section(f"tuning-{label}", f"Tuning: {label}", f"g2d tune, {len(summary['trials'])} trials; "
                   f"objective: val {summary['metric']} at each trial's selected epoch (test never read).",
                   body + tuning.trials_table(summary))


def _load_runs(run_dirs: list[str | Path], report: Report, posthoc: bool, device: str | None,
               refresh: bool) -> list[RunRecord]:
    """Each run folder read back, with its checkpoint analyses when ``posthoc``."""
    runs = [load_run(p, label) for p, label in zip(run_dirs, unique_labels([Path(p) for p in run_dirs]))]
    for run in runs:
        if posthoc:
            try:
                run.posthoc = analyse_run(run.path, device=device, refresh=refresh)
            except G2DError as err:
                run.notes.append(f"checkpoint analyses skipped: {err}")
        report.notes += [f"{run.label}: {n}" for n in run.notes]
    return runs


def _run_sections(runs: list[RunRecord], fig_dir: Path, report: Report) -> list[str]:
    palette = Palette.build((m for r in runs for m in r.modalities), (m for r in runs for m in r.methods))
    fig = lambda name, builder, missing: _figure(name, builder, runs, palette, fig_dir, report, missing)  # noqa: E731
    no_teacher = "no student was trained with teachers available (analysis.track and a teachers/ folder)"
    no_posthoc = "checkpoint analyses were not run (see notes)"
    colours = legend(palette.modalities, "Modalities") + legend(palette.methods, "Students")
    return [
        section("runs", "Runs", "What was trained, on what.", sections.overview(runs) + colours),
        *([section("diagnosis", "Diagnosis", "From `g2d diagnose` (train and validation splits only): which "
                   "modality an early-stopped joint probe leaves furthest below its teacher and whether the paper's "
                   "SMP ranking (least confident teacher first) agrees.", sections.diagnosis_table(runs))]
          if any(r.diagnosis for r in runs) else []),
        section("results", "Results", "Test split at each student's selected checkpoint (best validation "
                "epoch). Rows: the fused prediction, then each modality's own output z_s^m through the "
                "fusion head; the teacher column is that modality's unimodal teacher. Bold: best student.",
                sections.results(runs)),
        section("learning", "Learning curves", "Validation metric after every epoch.",
                fig("learning_curves", curves.learning_curves, "no training logs")),
        section("confidence", "Teacher confidence and SMP", "ρ^m: how sure each modality's teacher is of "
                "the true label on the training batches. SMP trains the least confident modality alone first.",
                fig("teacher_confidence", curves.confidence_curves, no_teacher) + sections.smp_table(runs)),
        section("alignment", "Feature alignment", "How close each student encoder's features stay to its "
                "unimodal teacher's (cosine similarity, 1 = same direction).",
                fig("feature_alignment", curves.alignment_curves, no_teacher)
                + sections.per_modality_table(runs, "alignment")),
        section("ratio", "Confidence ratio", "A modality's true-label confidence inside the student divided "
                "by its teacher's; below 1 the modality is suppressed by the others. 'weak': the modality "
                "whose teacher is worst on validation.",
                fig("confidence_ratio", curves.confidence_ratio_curves, no_teacher)
                + sections.per_modality_table(runs, "confidence_ratio")),
        section("gap", "Modality gap", "Distance between the centroids of the modalities' unit-normalised "
                "embeddings (0 = overlapping, 2 = opposite) and a 2-D PCA of them.",
                fig("modality_gap", checkpoint.gap_projection, no_posthoc)
                + fig("modality_gap_epochs", curves.gap_curves, "no per-epoch analyses in the logs")
                + sections.gap_table(runs)),
        section("missing", "Missing modalities at test time", "Modality inputs zeroed at random (seeded, the "
                "same for every student; at least one modality kept per sample; nested across rates).",
                fig("missing_modalities", checkpoint.missing_curves, no_posthoc) + sections.missing_table(runs)),
        section("cost", "Training cost", "Median time per training step (first epoch left out) and the "
                "largest per-epoch peak memory, from the training logs.", sections.cost_table(runs)),
    ]

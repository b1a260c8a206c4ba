"""``build_report`` / ``g2d report``: one self-contained page, figures beside it, readable tables."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from g2d.cli import main
from g2d.report import build_report
from g2d.report.runs import load_run, unique_labels
from g2d.report.style import Palette
from g2d.report.table import results_grid
from g2d.validation import G2DError

FIGURES = {"learning_curves", "teacher_confidence", "feature_alignment", "confidence_ratio", "modality_gap",
           "modality_gap_epochs", "missing_modalities"}


def test_report_is_one_self_contained_page(built_report):
    report, out = built_report
    text = out.read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"'](https?:|//|file:)", text)  # nothing fetched
    assert "<script" not in text and "<link" not in text
    images = re.findall(r'<img src="data:image/png;base64,', text)
    assert len(images) == len(FIGURES)
    assert {p.stem for p in report.figures} == FIGURES
    for path in report.figures:
        assert path.parent == out.parent / "report_figures" and path.stat().st_size > 1000
        if path.suffix == ".svg":
            assert ET.parse(path).getroot().tag.endswith("svg")
        else:
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_table_has_paper_layout_and_both_tasks(built_report, report_runs):
    _, out = built_report
    text = out.read_text()
    for title in ("Results", "Teacher confidence and SMP", "Feature alignment", "Confidence ratio",
                  "Modality gap", "Missing modalities at test time", "Training cost"):
        assert f"<h2>{title}</h2>" in text
    assert "test accuracy (%)" in text and "test MAE (target units)" in text and "test R²" in text
    summary = load_run(report_runs[0]).summary
    header, rows = results_grid(summary, "accuracy", ["joint", "g2d"], ["strong", "weak"])
    assert header == ["", "teacher", "joint", "g2d"] and [r[0] for r in rows] == ["fused", "strong", "weak"]
    fused_g2d = f"{100 * summary['methods']['g2d']['test']['accuracy']:.2f}"
    assert fused_g2d in text  # the number in the table is the run's test accuracy, in percent
    assert "weak alone, epochs" in text or "strong alone, epochs" in text  # SMP phase recorded


def test_colours_are_fixed_per_method_and_modality():
    palette = Palette.build(["audio", "video", "audio"], ["g2d", "ogm", "joint"])
    assert palette.methods == {"joint": "#4D4D4D", "ogm": "#1F77B4", "g2d": "#C0392B"}
    assert list(palette.modalities) == ["audio", "video"]
    assert palette.modality("audio") != palette.modality("video")


def test_unique_labels_add_parents_only_when_needed(tmp_path):
    assert unique_labels([tmp_path / "a" / "run", tmp_path / "b" / "run"]) == ["a/run", "b/run"]
    assert unique_labels([tmp_path / "x", tmp_path / "y"]) == ["x", "y"]


def test_cli_logs_only_report_and_errors(report_runs, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["report", str(report_runs[0]), "--out", str(out), "--logs-only"]) == 0
    printed = capsys.readouterr().out
    assert "report written to" in printed and "modality_gap: checkpoint analyses were not run" in printed
    assert "No data: checkpoint analyses were not run" in (out / "report.html").read_text()
    assert (out / "report_figures" / "feature_alignment.png").exists()  # logged per epoch, still shown
    assert main(["report", str(report_runs[0]), "--out", str(out), "--logs-only", "--quiet"]) == 0
    assert "note:" not in capsys.readouterr().out
    assert main(["report", str(report_runs[0]), "--out", str(tmp_path / "x.html")]) == 2
    assert "--out is a folder (the page is written to FOLDER/report.html); got the file name" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: run folder") and err.count("\n") == 1
    with pytest.raises(G2DError, match="no trained students"):
        build_report([tmp_path], tmp_path / "y.html")


def test_the_headline_is_computed_from_the_runs_results(built_report, report_runs):
    from g2d.report.sections import headline

    _, out = built_report
    run = load_run(report_runs[0])
    test, teachers = run.summary["methods"], run.summary["teachers"]
    line = headline(run)
    g2d, joint = 100 * test["g2d"]["test"]["accuracy"], 100 * test["joint"]["test"]["accuracy"]
    assert line.startswith(f"g2d {g2d:.1f} % vs joint {joint:.1f} %; ")
    ratio = {m: test["joint"]["test"]["modality_accuracy"][m] / teachers[m]["test"]["accuracy"] for m in teachers}
    neglected = min(ratio, key=ratio.get)  # the modality joint training leaves furthest below its teacher
    own = 100 * test["g2d"]["test"]["modality_accuracy"][neglected]
    assert f"; {neglected} modality in-student {own:.1f} % vs teacher " \
           f"{100 * teachers[neglected]['test']['accuracy']:.1f} %" in line
    text = out.read_text()
    assert text.index('class="headline"') < text.index("<h2>")  # first thing under the title
    assert f"{report_runs[0].name}: {line}" in text  # two runs in this report: each line names its run
    assert headline(load_run(report_runs[1])).startswith("g2d MAE ")  # regression: its own metric


def test_smp_phases_are_named_in_a_legend_beside_the_panel_not_written_on_it(report_runs):
    from g2d.report.curves import confidence_curves

    runs = [load_run(report_runs[0])]
    palette = Palette.build(runs[0].modalities, runs[0].methods)
    fig = confidence_curves(runs, palette)
    fig.canvas.draw()
    for ax in fig.axes:
        assert len(ax.texts) == 0  # no label drawn inside the axes, where it overlapped curves and other labels
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any(label.startswith("SMP: ") and label.endswith(" learns alone") for label in labels)
        assert ax.get_legend().get_bbox_to_anchor().x0 >= ax.get_window_extent().x1  # beside, right of the plot


def test_a_figure_spans_the_page_width_however_many_panels(report_runs):
    from g2d.report.curves import confidence_curves, learning_curves
    from g2d.report.html import png_width
    from g2d.report.style import render

    runs = [load_run(report_runs[0])]
    palette = Palette.build(runs[0].modalities, runs[0].methods)
    for builder in (learning_curves, confidence_curves):  # three panels in a row; one panel alone
        assert png_width(render(builder(runs, palette))) >= 1300

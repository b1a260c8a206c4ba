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

"""Two tiny finished runs (classification: joint + g2d; regression: g2d) shared by the report tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from g2d.api import MethodSpec, run_methods
from tests.conftest import tiny_config


@pytest.fixture(scope="session")
def report_runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("report-runs")
    cls, reg = root / "cls", root / "reg"
    run_methods(tiny_config(), cls, [MethodSpec.parse("joint"), MethodSpec.parse("g2d")], progress=False)
    run_methods(tiny_config(data__options__task_type="regression"), reg, [MethodSpec.parse("g2d")], progress=False)
    return [cls, reg]


@pytest.fixture(scope="session")
def built_report(report_runs, tmp_path_factory):
    """The full report (with checkpoint analyses) of both runs: ``(Report, html path)``."""
    from g2d.report import build_report

    out = tmp_path_factory.mktemp("report-out") / "report.html"
    return build_report(report_runs, out), out

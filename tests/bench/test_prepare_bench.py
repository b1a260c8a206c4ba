"""``g2d bench prepare`` on a few clips: the table has the four cases and memory figures."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("av", reason="PyAV writes the generated clips (pip install 'g2d[prepare]')")

from g2d.commands.bench import benchmark_parser  # noqa: E402


def test_bench_prepare_reports_speed_and_memory(tmp_path):
    args = benchmark_parser("prepare").parse_args(["--clips", "6", "--seconds", "1", "--size", "32", "24",
                                                  "--workers", "2", "--out", str(tmp_path)])
    assert args.handler(args) == 0
    rows = json.loads((tmp_path / "prepare.json").read_text())["rows"]
    assert [(r["clips"], r["workers"]) for r in rows] == [(3, 1), (6, 1), (3, 2), (6, 2)]
    assert all(r["clips_per_s"] > 0 and 10 < r["main_mib"] < 2000 for r in rows)
    assert rows[2]["worker_mib"] > 0
    assert "| 6 | 2 |" in (tmp_path / "prepare.md").read_text()

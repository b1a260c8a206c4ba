"""``g2d bench evidence``: paired differences with their intervals, the tables, a resumable tiny run."""
import json
import math
from pathlib import Path

import pytest

from g2d.bench.evidence import fused_table, modality_table, paired_ci
from g2d.cli import main


def test_paired_ci_is_the_student_t_interval():
    mean, half = paired_ci([0.01, 0.03, 0.02, 0.04, 0.00])
    assert mean == pytest.approx(0.02)
    assert half == pytest.approx(2.776 * math.sqrt(0.00025) / math.sqrt(5))  # t(0.975, 4) · s / √n
    assert math.isnan(paired_ci([0.5])[1])


def cell(joint: float, g2d: float, weak_g2d: float, prioritised: int) -> dict:
    method = lambda acc, weak: {"test": {"accuracy": acc, "modality_accuracy": {"a": 0.9, "w": weak}}}  # noqa: E731
    return {"modalities": ["a", "w"], "methods": {"joint": method(joint, 0.3), "g2d": method(g2d, weak_g2d)},
            "teachers": {"a": {"test": {"accuracy": 0.9}}, "w": {"test": {"accuracy": 0.7}}},
            "schedules": {"joint": {}, "g2d": {"w": prioritised}}}


def test_tables_show_means_paired_deltas_and_the_schedule():
    cells = [cell(0.80, 0.82, 0.6, 2), cell(0.81, 0.84, 0.7, 4)]
    fused = fused_table({"set": cells}, ["joint", "g2d"])
    assert "| set | 80.5 ± 0.7 | 83.0 ± 1.4 | +2.5 [" in fused  # deltas +2 and +3: mean +2.5
    per = modality_table("set", cells, ["joint", "g2d"])
    assert "| teacher | 90.0 ± 0.0 | 70.0 ± 0.0 | - |" in per
    assert "| g2d | 90.0 ± 0.0 | 65.0 ± 7.1 | w 3.0 |" in per
    assert "| joint | 90.0 ± 0.0 | 30.0 ± 0.0 | none |" in per


@pytest.mark.slow
def test_suite_on_mfeat_writes_tables_and_keeps_finished_cells(tmp_path, shared_data):
    args = ["bench", "evidence", "--out", str(tmp_path / "out"), "--shared", str(shared_data), "--only",
            "mfeat-pix-mor", "--methods", "joint", "g2d", "--seeds", "0,1", "--mfeat-epochs", "3",
            "--workers", "1"]
    assert main(args) == 0
    text = (tmp_path / "out" / "evidence.md").read_text()
    assert "| mfeat-pix-mor |" in text and "Δ g2d − joint [95% CI]" in text
    summary = tmp_path / "out" / "mfeat-pix-mor" / "seed-1" / "summary.json"
    stamp = summary.stat().st_mtime_ns
    assert main(args) == 0  # rerun: both cells are read back, not retrained
    assert summary.stat().st_mtime_ns == stamp
    results = json.loads((tmp_path / "out" / "evidence.json").read_text())
    assert [c["seed"] for c in results["mfeat-pix-mor"]] == [0, 1]
    assert results["mfeat-pix-mor"][0]["diagnosis"]["neglected"] in ("pix", "mor")
    assert (tmp_path / "out" / "mfeat-pix-mor" / "seed-0" / "diagnosis.json").exists()
    assert "What `g2d diagnose` says" in text


def test_suite_cells_run_on_the_executor_a_failed_cell_is_named_and_finished_cells_are_read_back(
        tmp_path, monkeypatch, capsys):
    import argparse

    from g2d.bench import evidence
    from tests.conftest import tiny_config

    real = evidence.run_methods

    def fails_on_bad(config, out, specs, progress, **kwargs):
        if Path(out).parent.name == "bad":
            raise RuntimeError("boom")
        return real(config, out, specs, progress=progress, **kwargs)

    monkeypatch.setattr(evidence, "run_methods", fails_on_bad)
    config = tiny_config(teachers__epochs=1, student__epochs=1)
    args = argparse.Namespace(methods=["joint", "g2d"], seeds=[0], out=str(tmp_path), executor="local",
                              workers=1, threads=1, ray_address=None)
    results, failed = evidence.run_suite({"good": config, "bad": config}, args)
    assert list(results) == ["good"] and list(failed) == ["bad.seed-0"]
    assert failed["bad.seed-0"].startswith("RuntimeError: boom (traceback: ")
    assert "cell bad.seed-0 failed: RuntimeError: boom" in capsys.readouterr().err
    assert sorted(results["good"][0]["methods"]) == ["g2d", "joint"] and "reused" not in results["good"][0]
    assert set(results["good"][0]["diagnosis"]["modalities"]) == set(results["good"][0]["modalities"])
    assert sorted(p.name for p in (tmp_path / "cells").glob("*.json")) == ["good.diagnosis.json", "good.seed-0.json"]
    again, _ = evidence.run_suite({"good": config}, args)  # read back from the cell files, not retrained
    assert again["good"][0]["reused"] is True
    assert again["good"][0]["methods"] == results["good"][0]["methods"]

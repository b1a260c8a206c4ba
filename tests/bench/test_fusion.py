"""``g2d bench fusion``: the Table-5 layout, and one tiny end-to-end run through the CLI."""
from __future__ import annotations

import json
from pathlib import Path

from g2d.bench.fusion import fusion_table
from g2d.cli import main


def _runs(values: list[float]) -> list[dict]:
    return [{"test": {"accuracy": v}} for v in values]


def test_table_rows_follow_the_paper_and_bold_the_best_per_column() -> None:
    datasets = {"synthetic": {"task": "classification", "fusions": {"late": _runs([0.80, 0.82]),
                                                                    "sum": _runs([0.70, 0.74])}},
                "mfeat": {"task": "classification", "fusions": {"late": _runs([0.5, 0.5]),
                                                                "sum": _runs([0.9, 0.9])}}}
    table = fusion_table(datasets).splitlines()
    assert table[0] == "| Fusion | synthetic | mfeat |"
    assert table[2] == "| Sum | 72.00 ± 2.83 | **90.00 ± 0.00** |"  # std of (70, 74) is 2√2
    assert table[3] == "| Late | **81.00 ± 1.41** | 50.00 ± 0.00 |"


def test_regression_columns_report_mae_and_bold_the_lowest() -> None:
    datasets = {"soil": {"task": "regression", "fusions": {"concat": [{"test": {"mae": 2.0}}],
                                                           "film": [{"test": {"mae": 3.0}}]}}}
    table = fusion_table(datasets).splitlines()
    assert table[0] == "| Fusion | soil (MAE) |"
    assert table[2:] == ["| Concat | **2.00** |", "| FiLM | 3.00 |"]


def test_cli_runs_g2d_per_fusion_and_writes_the_table(tmp_path: Path) -> None:
    out = tmp_path / "fusion"
    small = ["data.options.num_train=64", "data.options.num_val=32", "data.options.num_test=32",
             "data.options.dim=6", "data.options.num_classes=3", "teachers.epochs=1", "student.epochs=2",
             "device=cpu"]
    code = main(["bench", "fusion", "--fusions", "late,gated", "--seeds", "0,1", "--out", str(out), "--quiet",
                 *[arg for s in small for arg in ("--set", s)]])
    assert code == 0
    lines = (out / "tables.md").read_text().splitlines()
    assert lines[2] == "| Fusion | synthetic |"
    assert [line.split("|")[1].strip() for line in lines[4:6]] == ["BiGated", "Late"]
    assert all("±" in line for line in lines[4:6])
    raw = json.loads((out / "results.json").read_text())
    assert raw["seeds"] == [0, 1]
    assert [r["seed"] for r in raw["datasets"]["synthetic"]["fusions"]["gated"]] == [0, 1]
    assert (tmp_path / "fusion" / "synthetic" / "seed-1" / "students" / "g2d-late" / "model.safetensors").exists()


def test_cli_refuses_unknown_fusions(capsys) -> None:
    assert main(["bench", "fusion", "--fusions", "late,bogus"]) == 2
    assert "--fusions: unknown fusions ['bogus']" in capsys.readouterr().err


def test_cli_adds_a_column_per_config_file(tmp_path: Path) -> None:
    config = tmp_path / "three-views.yaml"
    config.write_text(
        "data: {name: synthetic, batch_size: 32, options: {num_modalities: 3, num_train: 64, num_val: 32,\n"
        "       num_test: 32, dim: 6, num_classes: 3}}\n"
        "teachers: {epochs: 1}\nstudent: {epochs: 2}\nmethod: {name: joint}\ndevice: cpu\n")
    out = tmp_path / "table"
    assert main(["bench", "fusion", "--no-synthetic", "--config", str(config), "--fusions", "cross-attention",
                 "--seeds", "3", "--out", str(out), "--quiet"]) == 0
    lines = (out / "tables.md").read_text().splitlines()
    assert lines[2] == "| Fusion | three-views |"
    assert lines[4].startswith("| Cross-Attention | **") and "±" not in lines[4]  # one seed: no spread
    raw = json.loads((out / "results.json").read_text())["datasets"]["three-views"]
    assert raw["modalities"] == ["strong", "weak1", "weak2"]
    summary = json.loads((tmp_path / "table" / "three-views" / "seed-3" / "students" / "g2d-cross-attention"
                          / "result.json").read_text())
    assert summary["method"] == "g2d"  # the config's joint was replaced by G2D


def test_rerun_into_the_same_folder_rebuilds_the_teacher_cache(tmp_path: Path) -> None:
    from g2d.bench.fusion import run_dataset
    from tests.conftest import tiny_config

    for teacher_epochs in (1, 2):  # new teachers: the first run's cache no longer matches them
        config = tiny_config(teachers__epochs=teacher_epochs, student__epochs=1, method__options={"phases": [1]})
        result = run_dataset(config, ["late"], [0], tmp_path, log=lambda msg: None)
        assert len(result["fusions"]["late"]) == 1

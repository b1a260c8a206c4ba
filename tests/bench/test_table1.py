"""``g2d bench table1``: the paper's Table 1 layout, n/a columns, and one tiny end-to-end run."""
from __future__ import annotations

from pathlib import Path

import pytest

from g2d.bench.table1 import COLUMNS, Column, DatasetResult, render, table_rows
from g2d.cli import main


def _run(fused: float, strong: float, weak: float, wall: float = 1.0) -> dict:
    return {"test": {"accuracy": fused, "modality_accuracy": {"strong": strong, "weak": weak}}, "wall_s": wall}


def _result() -> DatasetResult:
    res = DatasetResult("synthetic", ["strong", "weak"], [0, 1])
    res.summaries = {"Joint": [_run(0.70, 0.60, 0.20), _run(0.72, 0.62, 0.22)],
                     "G2D": [_run(0.80, 0.58, 0.50), _run(0.84, 0.60, 0.54)]}
    res.teachers = [{"strong": {"test": {"accuracy": 0.65}}, "weak": {"test": {"accuracy": 0.55}}}] * 2
    res.unavailable = {"DI-MML": "method 'di-mml': needs equal feature widths"}
    return res


def test_rows_are_dataset_by_modality_and_fused_with_teachers_beside() -> None:
    columns = [Column("Joint", "joint"), Column("DI-MML", "di-mml"), Column("G2D", "g2d")]
    rows = table_rows([_result()], columns)
    assert rows == [["synthetic", "strong", "65.0 ± 0.0", "61.0 ± 1.4", "n/a", "59.0 ± 1.4"],
                    ["", "weak", "55.0 ± 0.0", "21.0 ± 1.4", "n/a", "52.0 ± 2.8"],
                    ["", "fused", "–", "71.0 ± 1.4", "n/a", "82.0 ± 2.8"]]
    text = render([_result()], columns, "g2d bench table1 --seeds 0,1", 90.0).splitlines()
    assert "| Data set | Modality | Unimodal teachers | Joint | DI-MML | G2D |" in text
    assert "|  | fused | – | 71.0 ± 1.4 | n/a | **82.0 ± 2.8** |" in text
    assert "| synthetic | strong | **65.0 ± 0.0** | 61.0 ± 1.4 | n/a | 59.0 ± 1.4 |" in text
    assert any(line.startswith("- n/a (synthetic, DI-MML): method 'di-mml'") for line in text)
    assert text[0] == "<!-- written by: g2d bench table1 --seeds 0,1 -->" and text[-1] == "- Total wall time: 1.5 min."


def test_columns_are_the_papers() -> None:
    assert [c.title for c in COLUMNS] == ["Joint", "MSES", "MSLR", "AGM", "PMR", "OGM-GE", "MLA", "MMPareto",
                                          "ReconBoost", "DLMG", "UMT", "DI-MML", "G2D", "MMCosine", "OPM", "G-Blend",
                                          "CML", "Re-learning", "Sample-val", "Modality-val", "MBSD", "AMCo",
                                          "Greedy", "Remix", "Joint+Remix", "G2D+Remix", "DGL", "InfoReg", "ARL",
                                          "AUG"]
    aug = next(c for c in COLUMNS if c.method == "aug")
    assert aug.overrides == {"model.fusion": {"name": "shared", "options": {}}}
    assert next(c for c in COLUMNS if c.title == "G2D+Remix").key == "g2d+remix"  # a composition is a column
    mla = next(c for c in COLUMNS if c.method == "mla")
    assert mla.overrides == {"model.fusion": {"name": "shared", "options": {}}}
    cosine = next(c for c in COLUMNS if c.key == "mmcosine")  # a fusion: joint training on the cosine head
    assert (cosine.method, cosine.overrides) == ("joint", {"model.fusion": {"name": "mmcosine", "options": {}}})
    assert len({c.key for c in COLUMNS}) == len(COLUMNS)  # every column has its own --methods name


@pytest.mark.slow
def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    small = ["teachers.epochs=1", "student.epochs=2", "data.options.num_train=64", "data.options.num_val=32",
             "data.options.num_test=32", "data.options.dim=6", "data.options.num_classes=3", "device=cpu"]
    code = main(["bench", "table1", "--methods", "joint,mla,g2d", "--seeds", "0,1", "--out", str(tmp_path), "--quiet",
                 *[arg for s in small for arg in ("--set", s)]])
    assert code == 0
    text = (tmp_path / "tables.md").read_text()
    assert "| Data set | Modality | Unimodal teachers | Joint | MLA | G2D |" in text
    assert "| synthetic | strong |" in text and "|  | fused | – |" in text
    assert (tmp_path / "synthetic" / "base" / "grid.json").exists()
    assert (tmp_path / "synthetic" / "variant-1" / "seed-1" / "students" / "mla").is_dir()  # MLA on its shared head
    assert "written" in capsys.readouterr().err


def test_bad_method_names_are_a_one_line_error(capsys: pytest.CaptureFixture) -> None:
    assert main(["bench", "table1", "--methods", "joint,nope"]) == 2
    assert "--methods: unknown ['nope']" in capsys.readouterr().err

"""``g2d bench methods``: the Table 4 / Table 6 layouts from a grid's summaries, and one tiny run."""
from __future__ import annotations

from pathlib import Path

import pytest

from g2d.bench.methods import ablation_tables, bench_config
from g2d.cli import main


def summary(seed: int, acc: dict[str, float], task: str = "classification") -> dict:
    key = "accuracy" if task == "classification" else "mae"
    methods = {label: {"test": {key: a, f"modality_{key}": {"strong": a / 2, "weak": a / 4}}, "wall_s": 1.0}
               for label, a in acc.items()}
    teachers = {m: {"test": {key: 0.5}} for m in ("strong", "weak")}
    return {"seed": seed, "task": task, "modalities": ["strong", "weak"], "methods": methods, "teachers": teachers}


def test_tables_follow_the_paper_layouts() -> None:
    summaries = [summary(0, {"joint": 0.60, "joint+smp": 0.70, "g2d-loss+smp": 0.80, "g2d-partial": 0.75, "g2d": 0.90}),
                 summary(1, {"joint": 0.62, "joint+smp": 0.72, "g2d-loss+smp": 0.84, "g2d-partial": 0.77, "g2d": 0.92})]
    text = ablation_tables(summaries, "synthetic")
    lines = text.splitlines()
    assert "| Method | SMP | synthetic |" in lines
    assert "| Joint-Train | ✗ | 61.0 ± 1.4 |" in lines
    assert "|  | ✓ | 71.0 ± 1.4 |" in lines
    assert "| UMT | ✗ | – |" in lines  # not run: a dash, never a made-up number
    assert "|  | ✓ | 82.0 ± 2.8 |" in lines  # G2D loss + SMP = g2d-loss+smp (the paper's loss on both rows)
    assert "| Partial | 76.0 ± 1.4 |" in lines and "| Complete | 82.0 ± 2.8 |" in lines
    assert "| unimodal teachers | – | 50.0 ± 0.0 | 50.0 ± 0.0 |" in lines
    assert "| g2d-loss+smp | 82.0 ± 2.8 | 41.0 ± 1.4 | 20.5 ± 0.7 |" in lines
    assert "| g2d | 91.0 ± 1.4 | 45.5 ± 0.7 | 22.8 ± 0.4 |" in lines  # in the overview only, not in Table 4/6
    regression = ablation_tables([summary(0, {"g2d-loss+smp": 0.1234}, task="regression")], "soil")
    assert "| Complete | 0.123 |" in regression.splitlines() and "MAE" in regression


def test_default_config_is_the_demo_experiment() -> None:
    from g2d.demo import demo_config

    config = bench_config(None, {"student.epochs": 3})
    demo = demo_config()
    assert config.data == demo.data and config.teachers == demo.teachers
    assert config.student.epochs == 3 and config.method.options["phases"] is None


@pytest.mark.slow
def test_bench_methods_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sets = ["teachers.epochs=1", "student.epochs=2", "data.options.num_train=96", "data.options.num_val=32",
            "data.options.num_test=32", "data.options.dim=8", "device=cpu"]
    argv = ["bench", "methods", "--methods", "joint,joint+smp,g2d-partial", "--seeds", "0", "--out", str(tmp_path),
            "--quiet"] + [arg for pair in sets for arg in ("--set", pair)]
    assert main(argv) == 0
    text = (tmp_path / "tables.md").read_text()
    assert text.startswith("<!-- written by: g2d bench methods --methods joint,joint+smp,g2d-partial --seeds 0")
    assert "| Joint-Train | ✗ |" in text and "| G2D loss | ✗ | – |" in text
    assert (tmp_path / "seed-0" / "summary.json").exists() and (tmp_path / "grid.json").exists()
    assert "| Partial |" in capsys.readouterr().out


def test_bad_seeds_are_a_one_line_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:  # refused while the command line is read, as every option
        main(["bench", "methods", "--seeds", "0,x"])
    assert exit_.value.code == 2
    assert "argument --seeds: expected comma-separated integers" in capsys.readouterr().err

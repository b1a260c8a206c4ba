"""``g2d bench speed`` and ``g2d bench gpu`` on tiny sizes: tables, ratios, plot, exactness line."""
from __future__ import annotations

import json

import numpy as np
import pytest

from g2d.cli import main


def test_speed_bench_writes_the_table_plot_and_record(tmp_path, capsys):
    code = main(["bench", "speed", "--out", str(tmp_path), "--rounds", "2", "--steps", "1", "--width", "0.0625",
                 "--size", "16", "--channels", "1", "--big-cache-samples", "3000", "--big-cache-reads", "20",
                 "--skip-input", "--scaling-batches", "4", "8", "--scaling-steps", "1", "--epoch-rounds", "2",
                 "--epoch-samples", "16", "--epoch-min-steps", "2", "--epoch-resnet-batches", "4",
                 "--parts-batches", "4", "--skip-compile", "--clock", "cpu", "--profile"])
    assert code == 0
    text = (tmp_path / "speed.md").read_text()
    import torch

    assert f"CPU ({torch.backends.cpu.get_cpu_capability()} kernels), 1 thread(s)" in text and "cpu clock" in text
    assert "| G2D step / joint step (cached teachers, joint phase) |" in text
    assert "SMP-phase step / joint step" in text and "bit-for-bit the ones before: **yes**" in text
    assert "6568 B" in text and "3000 samples" in text
    record = json.loads((tmp_path / "speed.json").read_text())
    steps = record["steps"]
    assert len(steps["ratios"]["g2d"]) == 2 and all(r > 0 for r in steps["ratios"]["smp"])
    assert steps["suppressed_unchanged"] is True
    assert 0 < record["cache"]["share"] < 1
    assert record["cache"]["file_bytes"] >= 3000 * 6568
    assert set(record["scaling"]) == {"2", "3", "6"} and set(record["scaling"]["6"]) == {"4", "8"}
    epochs = record["epochs"]
    assert [(e["label"], e["batch"], e["samples"]) for e in epochs] == [
        ("MLP, M=2 (pix+mor)", 4, 16), ("MLP, M=2 (pix+mor)", 8, 16), ("MLP, M=3 (fac+fou+mor)", 4, 16),
        ("MLP, M=3 (fac+fou+mor)", 8, 16), ("MLP, M=6 (fac+fou+kar+mor+pix+zer)", 4, 16),
        ("MLP, M=6 (fac+fou+kar+mor+pix+zer)", 8, 16), ("ResNet-18 ×2", 4, 8)]
    for row in epochs:
        assert set(row["ratios"]) == {"g2d", "smp"} and all(len(v) == 2 for v in row["ratios"].values())
        assert row["ratios"]["g2d"] == [g / j for g, j in zip(row["times_s"]["g2d"], row["times_s"]["joint"])]
    lines = [line for line in text.splitlines() if line.startswith(("| MLP, M=", "| ResNet-18 ×2 |"))]
    assert len(lines) == 7
    for line, row in zip(lines, epochs):
        g2d = sorted(row["ratios"]["g2d"])
        verdict = "met" if (g2d[0] + g2d[1]) / 2 <= 1.05 else "not met"
        assert f"| ≤ 1.05: {verdict} |" in line
    parts = record["parts"]
    assert [(p["label"], p["batch"]) for p in parts] == [("MLP, M=3 (fac+fou+mor)", 4)]
    assert set(parts[0]["ratios"]) == {"teachers read (lookup, ρ), no G2D term", "+ feature term α·L_feat",
                                       "+ per-modality KL γ·L_own", "+ SMP's per-step measurement = G2D"}
    assert "| + per-modality KL γ·L_own | " in text and "### Where a G2D epoch's extra time goes" in text
    png = (tmp_path / "speed_scaling.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    ops = record["profile"]["aten_ops_per_step"]
    assert ops["g2d"] > ops["joint"] > 0 and "### Profile: MLP, M=3 (fac+fou+mor), batch 8" in text
    assert "G2D step, top operations by self CPU time" in text
    assert not list(tmp_path.glob(".work-*"))  # the big cache and scratch files are removed


def test_big_cache_is_read_without_loading_it(tmp_path):
    from g2d.bench._pipeline import write_big_cache

    names = write_big_cache(tmp_path, 500, 2, 7, 5, chunk=128)
    arr = np.load(tmp_path / f"{names[1]}.features.npy", mmap_mode="r")
    assert isinstance(arr, np.memmap) and arr.shape == (500, 5) and arr.dtype == np.float32
    assert np.isfinite(arr[[0, 255, 499]]).all()


def test_gpu_check_runs_on_the_cpu_with_tiny_sizes(tmp_path):
    code = main(["bench", "gpu", "--device", "cpu", "--out", str(tmp_path), "--width", "0.0625", "--audio", "1",
                 "16", "12", "--video", "3", "16", "16", "--batch-sizes", "4", "8", "--steps", "1", "--rounds", "1",
                 "--warmup", "1"])
    assert code == 0
    text = (tmp_path / "gpu_check.md").read_text()
    assert "**Device:** cpu (no GPU)" in text and "SMP phase: audio suppressed, video learns" in text
    rows = [line for line in text.splitlines() if line.startswith("| 4 ") or line.startswith("| 8 ")]
    assert len(rows) == 2 * 2 * 3  # batch × precision × (joint, G2D, SMP phase)
    record = json.loads((tmp_path / "gpu_check.json").read_text())
    assert set(record["results"]) == {"b4-fp32", "b4-bf16", "b8-fp32", "b8-bf16"}


def test_gpu_check_refuses_a_missing_gpu(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert main(["bench", "gpu", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_the_smp_epoch_case_times_a_prioritisation_epoch_and_the_g2d_case_a_joint_one(tmp_path):
    """The SMP column must time SMP phase 1 (one encoder learns), not g2d's first, joint epoch."""
    import torch

    from g2d.bench._epochs import epoch_rows, make_epoch_cases
    from g2d.bench._steps import StepSetup

    resnet = StepSetup({"a": (4,)}, {"name": "mlp"})
    row = epoch_rows({3: {"fac": 8, "fou": 6, "mor": 4}}, [4], resnet, [], min_samples=8, min_steps=2)[0]
    cases = make_epoch_cases(row, tmp_path)
    moved = {}
    for name in ("g2d", "smp"):
        encoders = cases[name].trainer.model.encoders
        before = {m: [p.detach().clone() for p in e.parameters()] for m, e in encoders.items()}
        cases[name].run()
        moved[name] = sorted(m for m, e in encoders.items()
                             if any(not torch.equal(p, q) for p, q in zip(e.parameters(), before[m])))
    assert moved["g2d"] == ["fac", "fou", "mor"]
    assert len(moved["smp"]) == 1


def test_break_even_counts_the_epochs_a_compiled_run_needs_to_pay_for_its_compilation():
    from g2d.bench._epochs import break_even

    assert break_even(30.0, 1.0, 0.5) == "60"
    assert break_even(30.0, 1.0, 0.7) == "100"  # rounded up: 99.99… epochs are not yet enough
    assert break_even(30.0, 1.0, 1.0) == "never" and break_even(0.0, 1.0, 1.2) == "never"


def test_compile_section_reports_every_case_with_compile_time(tmp_path, monkeypatch):
    """The section's table and record, on eager and whole-forward cases (traced by dynamo; its eager
    backend keeps the test fast — the bench itself compiles with inductor)."""
    import functools

    import torch

    from g2d.bench import _epochs
    from g2d.bench._steps import StepSetup

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    monkeypatch.setattr(_epochs, "COMPILED", {"joint": ("joint", "none"), "G2D": ("g2d", "none"),
                                              "G2D, whole forward compiled": ("g2d", "step")})
    where = StepSetup({"a": (4,)}, {"name": "mlp"})
    rows = _epochs.epoch_rows({2: {"pix": 6, "mor": 3}}, [4], where, [], min_samples=8, min_steps=2)
    text, record = _epochs.compile_section(rows, tmp_path, rounds=2)
    assert set(record[0]["compile_s"]) == {"joint", "G2D", "G2D, whole forward compiled"}
    assert record[0]["first_epoch_s"]["G2D, whole forward compiled"] > record[0]["compile_s"]["G2D, whole forward compiled"] > 0
    line = next(x for x in text.splitlines() if "| G2D, whole forward compiled |" in x)
    assert line.startswith("| MLP, M=2 (pix+mor) | 4 | G2D, whole forward compiled | ")
    assert "| G2D | " in text and "epochs to break even" in text


def test_the_gpu_check_script_runs_end_to_end_on_the_cpu(tmp_path):
    """scripts/gpu_check.sh --smoke: the prepared GPU script, eager mode, on tiny sizes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "OUT": str(tmp_path), "MODES": "none", "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(root / "scripts" / "gpu_check.sh"), "--smoke", "--batch-sizes", "4",
                           "--precisions", "fp32"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    text = (tmp_path / "gpu_check.md").read_text()
    assert "**Device:** cpu (no GPU)" in text and "; eager;" in text
    assert len([x for x in text.splitlines() if x.startswith("| 4 | fp32 |")]) == 3


def test_a_row_that_fails_to_compile_is_reported_and_the_section_goes_on(tmp_path, monkeypatch):
    from g2d.bench import _epochs
    from g2d.bench._steps import StepSetup

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler\nmore lines")

    monkeypatch.setattr(_epochs, "time_compiled_row", broken)
    rows = _epochs.epoch_rows({2: {"pix": 6, "mor": 3}}, [4], StepSetup({"a": (4,)}, {"name": "mlp"}), [], 8, 2)
    text, record = _epochs.compile_section(rows, tmp_path, rounds=1)
    assert "- MLP, M=2 (pix+mor), batch 4: compilation failed (RuntimeError: no C++ compiler)" in text
    assert record[0]["error"].startswith("RuntimeError")

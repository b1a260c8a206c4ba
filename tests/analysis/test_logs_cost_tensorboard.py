"""What the logs say (SMP phases, cost), peak-memory measurement, optional TensorBoard."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from g2d.analysis.cost import CostTracker, PeakMemory, cost_summary, overhead
from g2d.analysis.logs import series, smp_schedule
from g2d.analysis.tensorboard import TensorBoardLogger, flatten_scalars, tensorboard_callback

HISTORY = [
    {"epoch": 0, "steps": 10, "train_time_s": 0.5, "active_share": {"a": 0.0, "b": 1.0}, "confidence": {"a": 0.9},
     "analysis": {"cost": {"peak_memory_mb": 100.0, "memory": "cpu", "device": "cpu"}}},
    {"epoch": 1, "steps": 10, "train_time_s": 0.02, "active_share": {"a": 0.2, "b": 0.8},
     "analysis": {"cost": {"peak_memory_mb": 120.0, "memory": "cpu", "device": "cpu"}}},
    {"epoch": 2, "steps": 10, "train_time_s": 0.04, "active_share": {"a": 1.0, "b": 1.0}},
    {"epoch": 3, "steps": 10, "train_time_s": 0.03, "active_share": {"a": 1.0, "b": 0.0}},
]


def test_smp_schedule_merges_epochs_of_one_prioritised_modality():
    assert smp_schedule(HISTORY) == [
        {"start": 0, "end": 1, "modality": "b", "share": pytest.approx(0.9)},
        {"start": 3, "end": 3, "modality": "a", "share": 1.0}]
    assert smp_schedule([{"epoch": 0, "active_share": {"a": 1.0, "b": 1.0}}]) == []


def test_series_skips_rows_without_the_value():
    assert series(HISTORY, "confidence", "a") == ([0], [0.9])


def test_cost_summary_median_step_time_without_warmup_and_max_peak():
    # ms per step: 50 (warm-up, left out), 2, 4, 3 -> median 3
    summary = cost_summary(HISTORY)
    assert summary["step_time_ms"] == pytest.approx(3.0)
    assert summary["peak_memory_mb"] == 120.0 and summary["steps_per_epoch"] == 10
    assert overhead(110.0, 100.0) == pytest.approx(10.0) and overhead(1.0, None) is None


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="per-epoch peak RSS needs Linux /proc")
def test_peak_memory_tracks_and_resets_cpu_rss():
    memory = PeakMemory("cpu")
    memory.reset()
    base = memory.read()
    block = bytearray(64 * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    assert memory.read() >= base + 60
    del block
    memory.reset()
    assert memory.read() < base + 30


def test_cost_tracker_reads_step_time_from_the_row():
    tracker = CostTracker("cpu")
    out = tracker.on_epoch_end(SimpleNamespace(device="cpu"), 0, {"steps": 4, "train_time_s": 0.02})
    assert out["cost"]["step_time_ms"] == pytest.approx(5.0) and out["cost"]["peak_memory_mb"] > 0
    assert tracker.resetter.on_epoch_end(None, 0, {}) is None


def test_flatten_scalars_and_logger_with_a_fake_writer(tmp_path):
    row = {"epoch": 2, "val": {"accuracy": 0.5, "modality_accuracy": {"a": 0.25}}, "selected": True,
           "analysis": {"split": "val", "gap": {"distance": 0.3}}}
    assert dict(flatten_scalars(row)) == {"val/accuracy": 0.5, "val/modality_accuracy/a": 0.25,
                                          "analysis/gap/distance": 0.3}
    calls, made = [], []

    class Writer:
        def __init__(self, where):
            made.append(where)

        def add_scalar(self, name, value, step):
            calls.append((name, value, step))

        def flush(self):
            pass

    logger = TensorBoardLogger(Writer)
    logger.on_epoch_end(SimpleNamespace(out_dir=tmp_path), 2, row)
    assert made == [str(tmp_path / "tensorboard")] and ("val/accuracy", 0.5, 2) in calls


def test_tensorboard_missing_warns_and_skips(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import now raises ImportError
    with pytest.warns(RuntimeWarning, match="tensorboard package is not installed"):
        assert tensorboard_callback() is None

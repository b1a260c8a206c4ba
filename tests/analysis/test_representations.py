"""Per-epoch and checkpoint analyses on tiny real runs."""
from __future__ import annotations

import pytest
import torch

from g2d import io
from g2d.analysis import epoch_callbacks
from g2d.analysis.posthoc import analyse_run
from g2d.analysis.representations import representation_scores, teacher_outputs, weak_modality
from g2d.api import MethodSpec, build_student, load_data, run_methods
from g2d.teachers import Teacher, build_teacher_model
from tests.conftest import tiny_config


def test_a_student_made_of_its_teachers_is_perfectly_aligned_and_as_confident():
    config = tiny_config(model__fusion__name="sum")
    splits = load_data(config)
    torch.manual_seed(0)
    teachers = {m: Teacher(m, build_teacher_model(config, splits, m).eval(), {}) for m in splits.info.modalities}
    student = build_student(config, splits)
    for m, t in teachers.items():  # copy encoder and head: z_s^m == z_t^m, f_s^m == f_t^m
        student.encoders[m].load_state_dict(t.model.encoders[m].state_dict())
        student.fusion.heads[m].load_state_dict(t.model.fusion.heads[m].state_dict())
    outputs = teacher_outputs(teachers, splits.val, torch.device("cpu"), batch_size=10)
    scores = representation_scores(student, splits.val, torch.device("cpu"), outputs, keep=5, batch_size=7)
    for m in splits.info.modalities:
        assert scores["alignment"][m] == pytest.approx(1.0)
        assert scores["confidence_ratio"][m] == pytest.approx(1.0)
        assert scores["student_confidence"][m] == pytest.approx(scores["teacher_confidence"][m])
    assert scores["gap"]["space"] == "features" and 0.0 <= scores["gap"]["distance"] <= 2.0
    assert len(scores["projection"]["points"]["strong"]) == 5


def test_weak_modality_is_the_worst_teacher_on_validation():
    cards = {"a": {"select_metric": "accuracy", "val": {"accuracy": 0.9}},
             "b": {"select_metric": "accuracy", "val": {"accuracy": 0.4}}}
    assert weak_modality(cards) == "b"
    cards = {"a": {"select_metric": "mae", "val": {"mae": 0.1}}, "b": {"select_metric": "mae", "val": {"mae": 0.3}}}
    assert weak_modality(cards) == "b"
    assert weak_modality({}) is None


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    run_methods(tiny_config(), run, [MethodSpec.parse("joint"), MethodSpec.parse("g2d")], progress=False)
    return run


def test_student_logs_hold_the_epoch_analyses(run_dir):
    rows = io.read_jsonl(run_dir / "students" / "g2d" / "metrics.jsonl")
    for row in rows:
        analysis = row["analysis"]
        assert set(analysis) >= {"cost", "alignment", "confidence_ratio", "gap", "weak_modality"}
        assert analysis["split"] == "val"
        assert all(-1.0 <= v <= 1.0 for v in analysis["alignment"].values())
        assert analysis["cost"]["peak_memory_mb"] > 0 and analysis["cost"]["step_time_ms"] > 0
    joint = io.read_jsonl(run_dir / "students" / "joint" / "metrics.jsonl")
    assert "alignment" in joint[-1]["analysis"]  # teachers exist in the run, so joint is tracked too


def test_no_teachers_means_gap_and_cost_only():
    config = tiny_config()
    splits = load_data(config)
    callbacks = epoch_callbacks(config, splits, None, torch.device("cpu"))
    tracker = callbacks[1]
    assert tracker.teachers is None and tracker.weak is None
    assert len(callbacks) == 3  # cost, representations, cost reset


def test_posthoc_analyses_are_cached_by_weights(run_dir):
    first = analyse_run(run_dir, rates=[0.0, 0.5], keep=4)
    cache = run_dir / "analysis" / "g2d.json"
    stamp = cache.stat().st_mtime_ns
    again = analyse_run(run_dir, rates=[0.0, 0.5], keep=4)
    assert again == first and cache.stat().st_mtime_ns == stamp
    assert [p["rate"] for p in first["g2d"]["missing"]] == [0.0, 0.5]
    summary = io.read_json(run_dir / "summary.json")
    assert first["g2d"]["missing"][0]["metrics"]["accuracy"] == pytest.approx(
        summary["methods"]["g2d"]["test"]["accuracy"])  # rate 0 = the selected checkpoint's test accuracy
    analyse_run(run_dir, rates=[0.0, 0.2], keep=4)  # other settings: recomputed
    assert cache.stat().st_mtime_ns != stamp

"""The shared loop: selection on validation only, reproducible seeds, exact resume."""
import json

import pytest
import torch

from g2d import api, io

from conftest import tiny_config, train_interrupted_after


def test_selected_epoch_is_best_on_validation_and_test_is_reported_there(tmp_path):
    config = tiny_config(student__epochs=4, method__name="joint", method__options={})
    student = api.train_student(config, tmp_path, progress=False)
    rows = io.read_jsonl(student.out_dir / "metrics.jsonl")
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
    val = [r["val"]["accuracy"] for r in rows]
    best = max(range(4), key=lambda i: (val[i], -i))
    assert student.result.best_epoch == best
    assert student.result.test == rows[best]["test"]
    result = json.loads((student.out_dir / "result.json").read_text())
    assert result["selected_epoch"] == best and result["select_metric"] == "accuracy"


def test_seeded_runs_are_reproducible(tmp_path):
    config = tiny_config(method__name="joint", method__options={})
    a = api.train_student(config, tmp_path / "a", progress=False)
    b = api.train_student(config, tmp_path / "b", progress=False)
    assert a.result.history[-1]["train"] == b.result.history[-1]["train"]
    for (n, p), (_, q) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(p, q), n


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path, monkeypatch):
    config = tiny_config(student__epochs=4)
    api.train_teachers(config, tmp_path / "full", progress=False)
    full = api.train_student(config, tmp_path / "full", progress=False)

    api.train_teachers(config, tmp_path / "cut", progress=False)
    train_interrupted_after(1, config, tmp_path / "cut", monkeypatch)
    # the interrupted run is in the staging folder; nothing was published
    assert len(io.read_jsonl(tmp_path / "cut/students/.g2d.partial/metrics.jsonl")) == 2
    assert not (tmp_path / "cut/students/g2d").exists()
    resumed = api.train_student(config, tmp_path / "cut", progress=False, resume=True)

    assert resumed.result.best_epoch == full.result.best_epoch
    assert resumed.result.test == full.result.test
    assert [r["train"] for r in resumed.result.history] == [r["train"] for r in full.result.history]
    for (n, p), (_, q) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(p, q), n
    assert len(io.read_jsonl(tmp_path / "cut/students/g2d/metrics.jsonl")) == 4
    assert not (tmp_path / "cut/students/.g2d.partial").exists()


def test_checkpoint_files_are_safetensors_and_loadable_weights_only(tmp_path):
    config = tiny_config(method__name="joint", method__options={})
    student = api.train_student(config, tmp_path, progress=False)
    ckpt = student.out_dir / "checkpoints"
    assert (ckpt / "best.safetensors").exists() and len(list(ckpt.glob("model-e*.safetensors"))) == 1
    state = io.load_state(ckpt / "state.pt")  # weights_only=True inside
    assert state["epoch"] == 1 and not list(ckpt.glob(".*tmp"))


def test_epoch_log_has_terms_confidences_and_prioritised_modality(tmp_path):
    config = tiny_config(student__epochs=2, method__options={"phases": [1], "ranking": "teacher", "schedule": "fixed"})
    api.train_teachers(config, tmp_path, progress=False)
    student = api.train_student(config, tmp_path, progress=False)
    first, second = student.result.history
    assert set(first["train"]) == {"task", "feat", "own", "loss"}  # β = 0 by default: no fused-logit term
    assert set(first["confidence"]) == {"strong", "weak"}
    assert sum(first["active_share"].values()) == pytest.approx(1.0)  # one modality per step in phase 1
    assert second["active_share"] == {"strong": 1.0, "weak": 1.0}  # joint phase
    assert set(first["val"]["modality_accuracy"]) == {"strong", "weak"}

"""The Python API on three modalities and on regression."""
import pytest

from g2d.api import MethodSpec, run_methods

from conftest import tiny_config


def test_three_modalities_train_end_to_end(tmp_path):
    config = tiny_config(data__options={"num_modalities": 3, "num_train": 120, "num_val": 40, "num_test": 40,
                                        "dim": 6, "strong_dim": 6, "num_classes": 3},
                         student__epochs=3, method__options={"phases": [1, 1], "ranking": "teacher", "schedule": "fixed"})
    summary = run_methods(config, tmp_path, [MethodSpec("g2d", "g2d", {"phases": [1, 1], "ranking": "teacher", "schedule": "fixed"}), MethodSpec.parse("joint")],
                          progress=False)
    assert set(summary["teachers"]) == {"strong", "weak1", "weak2"}
    g2d = summary["methods"]["g2d"]
    assert set(g2d["test"]["modality_accuracy"]) == {"strong", "weak1", "weak2"}
    import json
    rows = [json.loads(l) for l in (tmp_path / "students/g2d/metrics.jsonl").read_text().splitlines()]
    assert sum(rows[0]["active_share"].values()) == pytest.approx(1.0)  # phase 1: one learner per step
    assert sum(rows[2]["active_share"].values()) == pytest.approx(3.0)  # joint phase


def test_regression_trains_end_to_end_and_reports_regression_metrics(tmp_path):
    config = tiny_config(data__options={"task_type": "regression", "num_train": 120, "num_val": 40,
                                        "num_test": 40, "dim": 6, "strong_dim": 6},
                         method__options={"phases": [1], "ranking": "teacher", "schedule": "fixed"})
    summary = run_methods(config, tmp_path, [MethodSpec.parse("g2d"), MethodSpec.parse("joint")], progress=False)
    test = summary["methods"]["g2d"]["test"]
    assert {"mse", "mae", "mape", "r2", "modality_mae"} <= set(test)
    assert test["mae"] == pytest.approx(0.2273378, rel=1e-5) and set(test["modality_mae"]) == {"strong", "weak"}
    assert "mae" in summary["teachers"]["weak"]["test"]


def test_composed_method_spec_parses_modulators():
    spec = MethodSpec.parse("joint+smp")
    assert spec.method == "joint" and spec.modulators == [{"name": "smp", "options": {}}]

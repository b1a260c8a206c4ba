"""The example configs for each loader parse and validate (no data needed to parse)."""
from __future__ import annotations

from pathlib import Path

import pytest

from g2d.config import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", ["avmnist", "cremad", "vggsound", "sequences", "image_table", "manifest",
                                  "mfeat", "arrays"])
def test_example_config_validates(name):
    config = load_config(CONFIGS / f"{name}.yaml")
    assert config.data.name == name
    assert set(config.model.encoders) == set(config.modalities)


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIGS.glob("synthetic*.yaml")))
def test_synthetic_example_configs_train_end_to_end(name, tmp_path):
    """The three-modality and regression examples run through teachers and a G2D student (tiny)."""
    from g2d.api import train_student, train_teachers

    small = {"teachers.epochs": 2, "student.epochs": 2, "data.options.num_train": 120,
             "data.options.num_val": 40, "data.options.num_test": 40, "method.options.phases": None}
    config = load_config(CONFIGS / f"{name}.yaml", small)
    train_teachers(config, tmp_path, progress=False)
    student = train_student(config, tmp_path, progress=False)
    metric = student.result.select_metric
    assert set(student.result.test[f"modality_{metric}"]) == set(config.modalities)
    assert len(student.result.history) == 2

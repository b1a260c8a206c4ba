"""The example configs for each loader parse and validate (no data needed to parse)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from g2d.catalog import DATASETS
from g2d.config import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


BUILT_IN = [n for n in DATASETS.names() if DATASETS.get(n).factory.__module__.startswith("g2d.data.")]


def example_configs(name: str) -> list[Path]:
    """The shipped configs whose data set is ``name``."""
    return [p for p in sorted(CONFIGS.glob("*.yaml"))
            if (yaml.safe_load(p.read_text()) or {}).get("data", {}).get("name") == name]


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_data_set_has_an_example_config_that_validates(name):
    paths = example_configs(name)
    assert paths, f"no configs/*.yaml uses data set {name!r}"
    for path in paths:
        config = load_config(path)
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

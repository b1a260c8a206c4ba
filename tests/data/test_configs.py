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

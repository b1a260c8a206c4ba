"""The paper-exact configs (``configs/paper/``) validate and pin the paper's SMP and loss."""
from pathlib import Path

import pytest

from g2d.config import load_config

PAPER = sorted((Path(__file__).resolve().parents[1] / "configs" / "paper").glob("*.yaml"))


@pytest.mark.parametrize("path", PAPER, ids=[p.stem for p in PAPER])
def test_paper_config_uses_the_papers_smp(path):
    config = load_config(path)
    options = config.method.options
    assert config.method.name == "g2d" and options["ranking"] == "teacher" and options["schedule"] == "fixed"
    assert options["phases"] == [config.student.epochs // 2]
    assert options["beta"] == 1.0 and options["gamma"] == 0.0  # fused-output KD, no per-modality term
    assert config.model.fusion.name == "late" and config.student.optim.name == "sgd"


def test_there_are_paper_configs():
    assert {p.stem for p in PAPER} >= {"avmnist", "cremad"}

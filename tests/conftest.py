"""Shared fixtures: tiny configs and data that train in seconds on 2 CPU cores."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch

from g2d.config import ExperimentConfig, parse_config

# Tests run two pytest workers on two cores; one intra-op thread each avoids oversubscription,
# which slows small CPU ops 20-100x.
torch.set_num_threads(1)

#: Real data sets for the tests that need them (fsdd/, mnist/mnist.npz, mfeat/); $G2D_SHARED_DATA
#: points elsewhere.
SHARED_DATA_ENV = "G2D_SHARED_DATA"
SHARED_DATA = Path(os.environ.get(SHARED_DATA_ENV) or Path(__file__).resolve().parents[1].parent / "shared" / "data")


def tiny_config(**overrides: Any) -> ExperimentConfig:
    """A synthetic 2-modality config small enough for unit tests (a few hundred samples)."""
    raw: dict[str, Any] = {
        "data": {"name": "synthetic", "batch_size": 32,
                 "options": {"num_train": 192, "num_val": 64, "num_test": 64, "dim": 8, "num_classes": 4}},
        "model": {"encoders": {}},
        "teachers": {"epochs": 2, "optim": {"lr": 0.05}},
        "student": {"epochs": 2, "optim": {"lr": 0.05}},
        "method": {"name": "g2d", "options": {"phases": [1], "ranking": "teacher", "schedule": "fixed"}},
        "device": "cpu",
    }
    for key, value in overrides.items():
        node = raw
        *parents, leaf = key.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return parse_config(raw)


def require_shared(*parts: str) -> Path:
    """``SHARED_DATA/<parts>``, or skip the test saying where it looked and how to point elsewhere."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found: looked for {path}; set {SHARED_DATA_ENV}=/path/to/data (the folder "
                    f"holding fsdd/, mnist/mnist.npz and mfeat/) to use data elsewhere")
    return path




@pytest.fixture
def shared_data() -> Path:
    """The real-data folder (skips, naming it and $G2D_SHARED_DATA, when it is missing)."""
    return require_shared()


def pytest_report_header(config: pytest.Config) -> str:
    """Which vector kernels PyTorch runs (``ATEN_CPU_CAPABILITY``, set by ``make test-cpus``)."""
    return (f"torch CPU capability: {torch.backends.cpu.get_cpu_capability()} "
            f"(ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', 'unset')}, "
            f"MKL_ENABLE_INSTRUCTIONS={os.environ.get('MKL_ENABLE_INSTRUCTIONS', 'unset')})")


class Interrupt(Exception):
    """Raised by :func:`train_interrupted_after` to cut a student run short."""


def train_interrupted_after(epoch: int, config: ExperimentConfig, run_dir: Path, monkeypatch) -> None:
    """Run ``api.train_student`` and cut it off right after epoch ``epoch``'s checkpoint is written,
    as a kill would; ``--resume`` then continues it."""
    from g2d import api
    from g2d.trainer import Trainer

    original = Trainer.save_checkpoint

    def crash_after(self, at: int) -> None:
        original(self, at)
        if at == epoch:
            raise Interrupt

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "save_checkpoint", crash_after)
        with pytest.raises(Interrupt):
            api.train_student(config, run_dir, progress=False)

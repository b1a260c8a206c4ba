"""The built-in demo: teachers, cache, a joint student and a G2D student on synthetic data whose
strong modality drowns out the weak one (see :mod:`g2d.data.synthetic`)."""
from __future__ import annotations

from typing import Any

from g2d.config import ExperimentConfig, parse_config


def demo_config(seed: int = 0, epochs: int = 30, device: str = "auto") -> ExperimentConfig:
    """The demo's experiment; ``g2d demo`` writes it to ``RUN/config.yaml`` so it can be rerun."""
    optim = {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4, "step_size": None}
    raw: dict[str, Any] = {
        "data": {"name": "synthetic", "batch_size": 32, "options": {}},
        "model": {"fusion": {"name": "concat"}},
        "teachers": {"epochs": epochs, "optim": optim},
        "student": {"epochs": epochs, "optim": optim},
        "method": {"name": "g2d", "options": {"alpha": 1.0, "beta": 0.0, "gamma": 1.0, "temperature": 1.0,
                                              "phases": [epochs // 2]}},
        "seed": seed, "device": device,
    }
    return parse_config(raw, "demo config")

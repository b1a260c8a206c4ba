"""Every registered method with its DEFAULT options trains differently from joint training on the
tiny setting (same data, model, seed, optimiser and epochs): no baseline is joint under another
name. Options a method needs to run at all (MLA's shared head) are the only ones given."""
from __future__ import annotations

import pytest
import torch

from g2d.config import OptimConfig, TrainConfig
from g2d.methods import METHODS, MethodContext, build_method
from g2d.methods.mslr import DynamicRates
from g2d.modulators.mses import ModalityEarlyStopping
from g2d.runtime import RuntimeConfig
from g2d.trainer import Trainer
from tests.methods.tiny import FakeTeachers, tiny_model, tiny_splits

EPOCHS = 8
FUSION = {"mla": "shared", "aug": "shared"}  # MLA's and AUG's shared classifier is their architecture (paper setting)


def train_tiny(method: str, fusion: str = "concat") -> tuple[Trainer, dict[str, torch.Tensor]]:
    splits = tiny_splits(dim=8)
    model = tiny_model(splits, fusion, seed=0)
    context = MethodContext(splits.info.modalities, splits.info.task, EPOCHS, model, splits.train, splits.val)
    built = build_method(method, None, context)
    config = TrainConfig(epochs=EPOCHS, optim=OptimConfig(name="sgd", lr=0.05, step_size=None))
    trainer = Trainer(model, built, splits.train, splits.val, None, config, RuntimeConfig(batch_size=16, seed=0),
                      teachers=FakeTeachers(splits, model, {"strong": 3.0}), progress=False)
    trainer.fit()
    return trainer, {k: v.detach().clone() for k, v in model.state_dict().items()}


def relative_change(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], prefix: str) -> float:
    keys = [k for k in a if k.startswith(prefix) and a[k].is_floating_point()]
    num = sum(float((a[k] - b[k]).norm()) ** 2 for k in keys) ** 0.5
    den = sum(float(b[k].norm()) ** 2 for k in keys) ** 0.5
    return num / den


@pytest.fixture(scope="module")
def joint() -> dict[str, dict[str, torch.Tensor]]:
    return {fusion: train_tiny("joint", fusion)[1] for fusion in {"concat", *FUSION.values()}}


@pytest.mark.parametrize("method", [m for m in METHODS.names() if m != "joint"])
def test_default_differs_measurably_from_joint(method: str, joint: dict) -> None:
    fusion = FUSION.get(method, "concat")
    _, weights = train_tiny(method, fusion)
    assert relative_change(weights, joint[fusion], "encoders.") > 0.01, \
        f"{method} with default options trains its encoders like joint training"


def test_mses_default_freezes_within_the_short_budget() -> None:
    trainer, _ = train_tiny("mses")
    stopping = next(m for m in trainer.method.modulators if isinstance(m, ModalityEarlyStopping))
    assert stopping.frozen, "no modality was early-stopped in 8 epochs"
    frozen_epoch = min(stopping.frozen.values())
    later = [row for row in trainer.history if row["epoch"] > frozen_epoch]
    assert later and all(row["active_share"][m] == 0.0 for row in later for m in stopping.frozen
                         if stopping.frozen[m] == frozen_epoch)


def test_mslr_default_adapts_the_encoder_rates() -> None:
    trainer, _ = train_tiny("mslr")
    groups = {g["name"]: g["lr"] for g in trainer.optimizer.param_groups}
    adapt = next(m for m in trainer.method.modulators if isinstance(m, DynamicRates))
    assert len(adapt.factors) == 1  # window 5, 8 epochs: one adaptation, after epoch 4
    for m, factor in adapt.factors[0].items():
        assert groups[f"encoder.{m}"] == pytest.approx(0.05 * factor)
    assert groups["fusion"] == 0.05
    assert groups["encoder.strong"] != groups["encoder.weak"]

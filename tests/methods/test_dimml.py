"""DI-MML: each encoder learns only from its own modality's objectives (no competition), DUC
transfers knowledge one way on the source's effective dimensions, certainty-weighted prediction."""
from __future__ import annotations

import io

import pytest
import torch

from g2d.methods import MethodContext, build_method
from g2d.methods.dimml import duc_loss, effective_dimensions
from g2d.model import ModelOutput, build_model
from g2d.validation import ConfigError
from tests.conftest import tiny_config
from tests.methods.tiny import tiny, tiny_splits


def encoder_grads(built, batch, modality: str) -> list[torch.Tensor]:
    out = built.model(batch.inputs)
    loss = sum(built.method.losses(out, batch.target, epoch=0).values())
    return [g.clone() for g in torch.autograd.grad(loss, built.model.encoder_parameters(modality))]


def test_each_encoder_learns_only_from_its_own_modality() -> None:
    built = tiny("di-mml", modalities=3)
    batch = built.batch()
    other = built.batch()
    other.inputs["weak1"] = torch.randn_like(other.inputs["weak1"])
    for m in ("strong", "weak2"):
        for g, h in zip(encoder_grads(built, batch, m), encoder_grads(built, other, m)):
            torch.testing.assert_close(g, h)
    pairs = zip(encoder_grads(built, batch, "weak1"), encoder_grads(built, other, "weak1"))
    changed = [not torch.equal(g, h) for g, h in pairs]
    assert any(changed)


def test_effective_dimensions_recognise_classes_along_one_dimension() -> None:
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (300,), generator=gen)
    informative = y.float() * 4 + 0.1 * torch.randn(300, generator=gen)
    features = torch.stack([informative, torch.randn(300, generator=gen), torch.randn(300, generator=gen)], 1)
    assert effective_dimensions(features, y, 3).tolist() == [True, False, False]


def test_duc_flows_one_way_on_the_source_only_dimensions() -> None:
    built = tiny("di-mml")
    method = built.method
    method.dims = {"strong": torch.tensor([True, True, True, False, False, False, False, False]),
                   "weak": torch.tensor([False, False, True, True, False, False, False, False])}
    pairs = [(a, b, idx.tolist()) for a, b, idx in method.transfer_pairs()]
    assert pairs == [("strong", "weak", [0, 1]), ("weak", "strong", [3])]
    method.dims["weak"] = torch.zeros(8, dtype=torch.bool)
    features = {m: torch.randn(16, 8, requires_grad=True) for m in ("strong", "weak")}
    method.duc(features).backward()
    assert features["strong"].grad is None  # the source is detached
    assert features["weak"].grad[:, :3].abs().sum() > 0 and features["weak"].grad[:, 3:].abs().sum() == 0
    student = torch.randn(4, 3, requires_grad=True)
    teacher = torch.randn(4, 3, requires_grad=True)
    duc_loss(student, teacher, 1.0).backward()
    assert teacher.grad is None and student.grad is not None
    assert float(duc_loss(teacher.detach(), teacher.detach(), 0.05, "cosine")) < 0.05


def test_dimensions_are_chosen_once_when_duc_starts() -> None:
    built = tiny("di-mml", {"duc_start": 0.5}, epochs=4)
    _, terms = built.step(epoch=1)
    assert built.method.dims is None and "duc" not in terms
    _, terms = built.step(epoch=2, step=1)
    assert set(built.method.dims) == {"strong", "weak"} and built.method.dims["weak"].shape == (8,)
    assert {"own_strong", "own_weak", "shared", "duc"} <= set(terms)
    buffer = io.BytesIO()
    torch.save(built.method.state_dict(), buffer)
    buffer.seek(0)
    fresh = tiny("di-mml", {"duc_start": 0.5}, epochs=4)
    fresh.method.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(fresh.method.dims["weak"], built.method.dims["weak"])
    assert torch.equal(fresh.method.shared.weight, built.method.shared.weight)


def test_prediction_weighs_the_more_certain_modality_more() -> None:
    built = tiny("di-mml")
    z = {"strong": torch.tensor([[6.0, 0, 0, 0], [0.1, 0, 0, 0]]),
         "weak": torch.tensor([[0.0, 1, 0, 0], [0, 5.0, 0, 0]])}
    w = built.method.certainty_weights(z)
    assert float(w[0, 0]) > float(w[1, 0]) and float(w[1, 1]) > float(w[0, 1])
    out = built.method.eval_output(ModelOutput(torch.zeros(2, 4), z, {}))
    assert out.logits.argmax(-1).tolist() == [0, 1] and out.modality_logits is z
    built.model.eval()
    with torch.no_grad():
        real = built.model(built.batch().inputs)
    expected = built.method.eval_output(ModelOutput(real.logits, real.modality_logits, real.features)).logits
    torch.testing.assert_close(real.logits, expected)


def test_unequal_widths_and_regression_are_refused() -> None:
    splits = tiny_splits()
    encoders = {"strong": {"name": "mlp", "options": {"hidden": [8], "out_dim": 6}},
                "weak": {"name": "mlp", "options": {"hidden": [8], "out_dim": 5}}}
    model = build_model(splits.info, encoders, {"name": "concat", "options": {}})
    with pytest.raises(ConfigError, match="equal feature widths"):
        build_method("di-mml", {}, MethodContext(splits.info.modalities, "classification", 4, model, splits.train))
    with pytest.raises(ConfigError, match="DI-MML's shared classifier"):
        tiny_config(data__options={"task_type": "regression", "num_train": 64, "num_val": 16, "num_test": 16},
                    method={"name": "di-mml"})

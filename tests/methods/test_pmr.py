"""PMR: prototypes are class means of the features; weaker modalities get the prototype loss."""
from __future__ import annotations

import io

import pytest
import torch

from g2d.validation import ConfigError
from tests.conftest import tiny_config
from tests.methods.tiny import tiny


def class_means_by_hand(built) -> dict[str, torch.Tensor]:
    data = built.splits.train
    built.model.eval()
    with torch.no_grad():
        batch = data.get_batch(list(range(len(data))))
        feats = built.model.encode(batch.inputs)
    built.model.train()
    classes = built.splits.info.num_classes
    return {m: torch.stack([f[batch.target == c].mean(0) for c in range(classes)]) for m, f in feats.items()}


def test_prototypes_are_class_means_then_blended() -> None:
    built = tiny("pmr", {"momentum": 0.25})
    expected = class_means_by_hand(built)
    built.step(epoch=0)
    method = built.method
    assert method.prototype_epoch == 0
    for m, p in expected.items():
        torch.testing.assert_close(method.prototypes[m], p, rtol=1e-5, atol=1e-6)
    built.step(epoch=0, step=1, batch=built.batch(16))  # same epoch: not recomputed
    torch.testing.assert_close(method.prototypes["strong"], expected["strong"], rtol=1e-5, atol=1e-6)
    old = {m: p.clone() for m, p in method.prototypes.items()}
    fresh = class_means_by_hand(built)
    built.step(epoch=1, step=2)
    for m in old:
        torch.testing.assert_close(method.prototypes[m], 0.75 * fresh[m] + 0.25 * old[m], rtol=1e-5, atol=1e-6)


def test_only_the_weaker_modality_gets_the_prototype_loss() -> None:
    built = tiny("pmr", {"alpha": 1.0, "mu": 0.0})
    built.method.update_prototypes(built.model, torch.device("cpu"), 0)
    state = built.state()
    feats = built.model.encode(state.batch.inputs)
    y = state.batch.target
    sims = {m: -torch.cdist(f, built.method.prototypes[m]) for m, f in feats.items()}
    scores = {m: float(torch.softmax(s.detach(), -1)[torch.arange(len(y)), y].sum()) for m, s in sims.items()}
    strong_dominates = scores["strong"] > scores["weak"]
    assert scores["strong"] != scores["weak"]
    dom, weak = ("strong", "weak") if strong_dominates else ("weak", "strong")
    weight = min(max(scores[dom] / scores[weak] - 1, 0.0), 1.0)
    expected = weight * torch.nn.functional.cross_entropy(sims[weak], y)
    terms = built.method.prototype_terms(feats, y, epoch=0)
    assert set(terms) == {"pce"}
    assert float(terms["pce"].detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    terms["pce"].backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in built.model.encoders[dom].parameters())


def test_entropy_regulariser_only_in_its_epochs_and_state_round_trips() -> None:
    built = tiny("pmr", {"per_epochs": 1, "mu": 0.5})
    _, terms = built.step(epoch=0)
    assert {"task", "pce", "per"} <= set(terms)
    _, terms = built.step(epoch=1)
    assert "per" not in terms
    buffer = io.BytesIO()
    torch.save(built.method.state_dict(), buffer)
    buffer.seek(0)
    fresh = tiny("pmr", {"per_epochs": 1})
    fresh.method.load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh.method.prototype_epoch == 1
    assert torch.equal(fresh.method.prototypes["weak"], built.method.prototypes["weak"])


def test_regression_is_refused_at_config_load() -> None:
    with pytest.raises(ConfigError, match="PMR builds one prototype per class"):
        tiny_config(data__options={"task_type": "regression", "num_train": 64, "num_val": 16, "num_test": 16},
                    method={"name": "pmr"})

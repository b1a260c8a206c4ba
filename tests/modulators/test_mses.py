"""MSES: an encoder is frozen after `patience` epochs without improving its own val metric, never
unfrozen, and a frozen encoder is left bit-for-bit unchanged by the optimiser step."""
from __future__ import annotations

import io

import pytest
import torch

from g2d.modulators.mses import ModalityEarlyStopping
from tests.methods.tiny import tiny


def val(strong: float, weak: float, loss: tuple[float, float] = (1.0, 1.0)) -> dict:
    return {"accuracy": 0.5, "modality_accuracy": {"strong": strong, "weak": weak},
            "modality_loss": {"strong": loss[0], "weak": loss[1]}}


def test_freezes_after_patience_and_never_unfreezes() -> None:
    mses = ModalityEarlyStopping(("strong", "weak"), patience=2, monitor="metric")
    history = [(0.5, 0.2), (0.6, 0.3), (0.6, 0.4), (0.55, 0.5), (0.9, 0.6), (0.95, 0.7)]
    active = []
    for epoch, (s, w) in enumerate(history):
        mses.on_epoch_end(epoch, val(s, w))
        active.append(mses.select_active(None))
    assert active[:2] == [None, None]
    assert active[2] is None  # strong: one epoch without improvement
    assert active[3] == frozenset({"weak"})  # second epoch without improvement: frozen after epoch 3
    assert active[4] == active[5] == frozenset({"weak"})  # 0.9 later does not unfreeze it
    assert mses.frozen == {"strong": 3}


def test_min_delta_and_regression_metric() -> None:
    mses = ModalityEarlyStopping(("a", "b"), patience=1, min_delta=0.05, monitor="metric")
    for epoch, (a, b) in enumerate([(0.5, 0.5), (0.4, 0.52)]):  # mae: lower is better
        mses.on_epoch_end(epoch, {"mae": 0.1, "modality_mae": {"a": a, "b": b}})
    assert mses.frozen == {"b": 1}  # a improved by 0.1 > min_delta, b got worse


def test_default_watches_each_modality_val_loss_with_patience_one() -> None:
    mses = ModalityEarlyStopping(("strong", "weak"), patience=1)
    mses.on_epoch_end(0, val(0.5, 0.5, (1.0, 1.2)))
    mses.on_epoch_end(1, val(0.9, 0.5, (1.1, 1.1)))  # strong's loss rose although its accuracy rose
    assert mses.frozen == {"strong": 1} and mses.select_active(None) == frozenset({"weak"})
    with pytest.raises(KeyError, match="needs per-modality validation values 'modality_loss'"):
        ModalityEarlyStopping(("a",), 1).on_epoch_end(0, {"modality_accuracy": {"a": 0.5}})


def test_method_adds_the_modality_specific_classifiers_losses() -> None:
    built = tiny("mses")
    state, terms = built.step()
    out = state.output
    expected = sum(torch.nn.functional.cross_entropy(z, state.batch.target) for z in out.modality_logits.values())
    torch.testing.assert_close(terms["unimodal"], expected)
    assert set(tiny("mses", {"unimodal_weight": 0.0}).step()[1]) == {"task"}


def test_frozen_encoder_is_bit_for_bit_unchanged_with_momentum_and_weight_decay() -> None:
    built = tiny("mses", {"patience": 1}, weight_decay=1e-2)
    built.step(epoch=0)  # a joint step: every encoder now has momentum
    built.method.on_epoch_end(0, val(0.5, 0.5, (1.0, 1.0)))
    built.method.on_epoch_end(1, val(0.4, 0.6, (1.2, 0.9)))  # strong's val loss rises -> frozen
    before = built.snapshot()
    state, _ = built.step(epoch=2, batch=built.batch(16))
    assert state.active == frozenset({"weak"})
    after = built.snapshot()
    strong = [k for k in before if k.startswith("encoders.strong.")]
    assert strong and all(torch.equal(before[k], after[k]) for k in strong)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("encoders.weak."))
    buffer = io.BytesIO()
    torch.save(built.method.state_dict(), buffer)
    buffer.seek(0)
    fresh = tiny("mses", {"patience": 1})
    fresh.method.load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh.method.modulators[0].frozen == {"strong": 1}
    assert fresh.method.select_active(None) == frozenset({"weak"})

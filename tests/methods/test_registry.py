"""Registry-driven: every registered method (and every modulator composed onto ``joint``) runs
forward, backward and an optimiser step with its default options, for 2 and 3 modalities — so a
new method or modulator cannot be added without being exercised here."""
from __future__ import annotations

import math

import pytest
import torch

from g2d.catalog import METHODS, MODULATORS
from tests.conftest import tiny_config
from tests.methods.tiny import tiny


def _changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], prefix: str) -> bool:
    return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))


def _run_two_steps(built) -> None:
    before = built.snapshot()
    for step, epoch in enumerate((0, built.epochs - 1)):  # a first-phase step and a last-epoch step
        state, terms = built.step(epoch=epoch, step=step, batch=built.batch(16 * step))
        assert terms, "a training step must return its loss terms"
        finite = [torch.is_tensor(v) and v.dim() == 0 and math.isfinite(float(v.detach())) for v in terms.values()]
        assert all(finite), terms
        # the step's output covers the batch its state describes (remix leaves a one-sample sub-batch out)
        assert state.output is not None and state.output.logits.shape == (len(state.batch), built.splits.info.num_outputs)
        assert len(state.batch) >= 16 - (len(built.model.modalities) - 1)  # at most M − 1 lone samples left out
        assert all(p.grad is None for p in built.model.parameters()), "the step must leave grads zeroed (None)"
    after = built.snapshot()
    assert _changed(before, after, "fusion."), "the fusion head must learn"
    assert _changed(before, after, "encoders."), "at least one encoder must learn"
    built.method.on_epoch_end(0, {"accuracy": 0.5, "loss": 1.0, "modality_accuracy": {m: 0.5 for m in built.model.modalities},
                               "modality_loss": {m: 1.0 for m in built.model.modalities}})
    torch.save(built.method.state_dict(), "/dev/null")


@pytest.mark.parametrize("name", METHODS.names())
@pytest.mark.parametrize("modalities", [2, 3])
def test_every_method_steps(name: str, modalities: int) -> None:
    _run_two_steps(tiny(name, modalities=modalities))


@pytest.mark.parametrize("name", MODULATORS.names())
def test_every_modulator_composes_with_joint(name: str) -> None:
    built = tiny("joint", modulators=[{"name": name, "options": {}}], modalities=3)
    assert len(built.method.modulators) == 1
    _run_two_steps(built)


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_accepts_its_defaults_in_a_config(name: str) -> None:
    config = tiny_config(method={"name": name, "options": {}})
    assert config.method.name == name
    # the resolved options hold every default, so the saved YAML is complete
    assert config.method.options == METHODS.get(name).options().model_dump()

"""Modulators compose onto methods as declared in the config (paper Table 4: joint+smp, umt+smp,
g2d = G2D loss + SMP), and SMP's suppression stays exact when composed."""
from __future__ import annotations

import pytest
import torch

from g2d.api import MethodSpec, with_method
from tests.conftest import tiny_config
from tests.methods.tiny import tiny


def test_joint_plus_smp_leaves_the_suppressed_encoder_bit_for_bit_unchanged() -> None:
    # strong's teacher is confident, so SMP's first phase trains only the weak encoder
    built = tiny("joint", modulators=[{"name": "smp", "options": {"phases": [2], "ranking": "teacher", "schedule": "fixed"}}], epochs=4,
                 teacher_bias={"strong": 4.0}, weight_decay=1e-2)
    assert built.method.needs_teachers
    built.step(epoch=2)  # a joint-phase step first: every parameter has a momentum buffer
    assert all(built.runner.optimizer.state[p] for p in built.model.parameters())
    before = built.snapshot()
    state, _ = built.step(epoch=0, step=1, batch=built.batch(16))
    assert state.active == frozenset({"weak"})
    after = built.snapshot()
    strong = [k for k in before if k.startswith("encoders.strong.")]
    assert strong and all(torch.equal(before[k], after[k]) for k in strong)
    for prefix in ("encoders.weak.", "fusion."):
        assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))


@pytest.mark.parametrize("loss", [{}, {"beta": 1.0, "gamma": 0.0}], ids=["project-loss", "paper-loss"])
def test_g2d_equals_g2d_loss_plus_the_smp_modulator(loss: dict) -> None:
    """``g2d`` is ``g2d-loss`` + ``smp``; its loss defaults are the project's (β = 0, γ = 1)."""
    smp = {"phases": [2], "ranking": "teacher", "schedule": "fixed"}
    a = tiny("g2d", smp | loss, teacher_bias={"weak": 2.0})
    b = tiny("g2d-loss", {"beta": 0.0, "gamma": 1.0} | loss, modulators=[{"name": "smp", "options": smp}],
             teacher_bias={"weak": 2.0})
    for step, epoch in enumerate((0, 1, 2, 3)):
        a.step(epoch=epoch, step=step, batch=a.batch(16 * step))
        b.step(epoch=epoch, step=step, batch=b.batch(16 * step))
    sa, sb = a.snapshot(), b.snapshot()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_method_specs_build_table4_compositions_from_the_config() -> None:
    config = tiny_config()
    for text, method, mods in (("joint+smp", "joint", ["smp"]), ("umt+smp", "umt", ["smp"]),
                               ("g2d-loss+ogm-ge", "g2d-loss", ["ogm-ge"]), ("g2d-partial", "g2d-partial", [])):
        spec = MethodSpec.parse(text)
        resolved = with_method(config, spec)
        assert resolved.method.name == method
        assert [m.name for m in resolved.method.modulators] == mods

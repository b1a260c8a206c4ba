"""InfoReg: the prime learning window from the Fisher-trace growth, and the proximal pull-back of the
leading modality's encoder inside its window."""
from __future__ import annotations

import math

import pytest
import torch

from g2d.methods.inforeg import PrimeWindowRegulation, growth_rate, regulation_strengths
from tests.methods.tiny import tiny


def test_growth_rate_of_the_windowed_fisher_trace() -> None:
    assert growth_rate([], 10) == 1.0  # the first epoch is always inside the window
    assert growth_rate([2.0], 10) == 1.0
    assert growth_rate([2.0, 2.0], 10) == pytest.approx(0.5)  # S = 4 after 2, before 2
    assert growth_rate([2.0, 1.0], 1) == pytest.approx(-1.0)  # falling information: outside the window
    assert growth_rate([1.0] * 12, 10) == pytest.approx(0.0)  # flat: the window has closed


def test_only_the_leading_modality_inside_its_window_is_regulated() -> None:
    scores = {"a": torch.tensor(10.0), "b": torch.tensor(9.5), "c": torch.tensor(2.0)}
    beta = regulation_strengths(scores, {"a": True, "b": True, "c": True}, 0.95)
    gap_a, gap_b = 10.0 - (9.5 + 2.0) / 2, 9.5 - (10.0 + 2.0) / 2
    assert float(beta["a"]) == pytest.approx(0.95 * math.exp(math.tanh(gap_a)))
    assert float(beta["b"]) == pytest.approx(0.95 * math.exp(math.tanh(gap_b)))
    assert float(beta["c"]) == 0.0  # behind the others
    closed = regulation_strengths(scores, {"a": False, "b": True, "c": True}, 0.95)
    assert float(closed["a"]) == 0.0


def test_the_pull_back_is_beta_times_the_distance_to_the_epoch_start() -> None:
    built = tiny("inforeg")
    reg = next(m for m in built.method.modulators if isinstance(m, PrimeWindowRegulation))
    state = built.state()
    state.output = built.model(state.batch.inputs)
    reg.anchor_epoch = 0
    reg.anchor = {m: [p.detach().clone() - 0.1 for p in ps] for m, ps in reg.params.items()}  # θ − θ0 = 0.1
    for ps in reg.params.values():
        for p in ps:
            p.grad = torch.zeros_like(p)
    scores = {m: float(torch.softmax(z.detach(), -1).gather(1, state.batch.target.long()[:, None]).sum())
              for m, z in state.output.modality_logits.items()}
    leader = max(scores, key=scores.get)
    other = min(scores, key=scores.get)
    reg.on_before_optimizer_step(state, built.runner.optimizer)
    expected = 0.95 * math.exp(math.tanh(scores[leader] - scores[other])) * 0.1
    for p in reg.params[leader]:
        assert torch.allclose(p.grad, torch.full_like(p, expected), atol=1e-5)
    assert all(torch.count_nonzero(p.grad) == 0 for p in reg.params[other])
    assert reg.regulated_steps == {leader: 1, other: 0}


def test_a_regulated_epoch_moves_the_leading_encoder_less_than_without_regulation() -> None:
    def drift(beta: float) -> tuple[dict[str, float], dict[str, int]]:
        built = tiny("inforeg", {"beta": beta})
        start = built.snapshot()
        for step in range(8):  # one epoch of 8 steps: every proximal pull is to the same start
            built.step(epoch=0, step=step, batch=built.batch((16 * step) % 48))
        end = built.snapshot()
        moved = {m: sum(float((end[k] - start[k]).norm()) for k in start if k.startswith(f"encoders.{m}."))
                 for m in ("strong", "weak")}
        return moved, built.method.modulators[0].regulated_steps

    (free, _), (held, regulated) = drift(0.0), drift(0.95)
    assert regulated["strong"] > regulated["weak"]  # the strong modality leads on most batches
    assert held["strong"] < 0.8 * free["strong"]  # and is slowed down

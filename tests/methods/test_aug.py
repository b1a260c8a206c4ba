"""AUG: alternating unimodal steps, learners added to the weakest modality, learned by the optimiser
as soon as they are added, and restored exactly on resume."""
from __future__ import annotations

import pytest
import torch

from g2d import api, io
from g2d.methods.aug import AUGMethod, residual_loss
from tests.conftest import tiny_config, train_interrupted_after
from tests.methods.tiny import tiny


def changed(before: dict, after: dict, prefix: str) -> bool:
    return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))


def learner_state(method: AUGMethod) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in method.learners.state_dict().items()}


def test_each_modality_takes_one_turn_per_batch_on_the_shared_head() -> None:
    built = tiny("aug", fusion="shared", modalities=3)
    before = built.snapshot()
    state, terms = built.step()
    assert set(terms) == {f"task_{m}" for m in built.model.modalities}
    after = built.snapshot()
    assert all(changed(before, after, f"encoders.{m}.") for m in built.model.modalities)
    assert changed(before, after, "fusion.classifier.")


def test_a_learner_is_added_to_the_weakest_modality_when_scores_are_disproportionate() -> None:
    built = tiny("aug", {"max_learners": 2}, fusion="shared")
    method = built.method
    method.scores = {"strong": 10.0, "weak": 5.0}
    assert method.assign(0) == "weak" and method.active == {"strong": 0, "weak": 1}
    method.scores = {"strong": 10.0, "weak": 9.95}  # within λ + 0.01 = 1.01: balanced enough
    assert method.assign(1) is None
    method.scores = {"strong": 3.0, "weak": 9.0}
    assert method.assign(2) == "strong"
    method.scores = {"strong": 10.0, "weak": 1.0}
    assert method.assign(3) == "weak" and method.assign(4) is None  # the cap: 2 learners per modality
    assert method.active == {"strong": 1, "weak": 2}


def test_an_added_learner_is_learned_and_the_idle_ones_are_untouched() -> None:
    built = tiny("aug", fusion="shared")
    method = built.method
    in_optimizer = {id(p) for g in built.runner.optimizer.param_groups for p in g["params"]}
    assert all(id(p) in in_optimizer for p in method.learners.parameters())
    built.step(epoch=0, step=0)
    method.scores = {"strong": 10.0, "weak": 1.0}
    method.assign(0)
    before = learner_state(method)
    state, _ = built.step(epoch=1, step=1, batch=built.batch(16))
    after = learner_state(method)
    assert changed(before, after, "weak.0.")  # the new learner learns from its first step
    assert not changed(before, after, "weak.1.") and not changed(before, after, "strong.")
    # its output is part of the weak modality's prediction
    assert state.output.modality_logits["weak"].shape == (16, 4)


def test_the_residual_term_is_the_soft_target_cross_entropy() -> None:
    new = torch.tensor([[2.0, 0.0, 0.0]])
    previous = torch.tensor([[0.0, 1.0, 0.0]])
    target = torch.tensor([0])
    p_prev = torch.softmax(previous, -1)[0, 0]
    soft = torch.zeros(1, 3)
    soft[0, 0] = p_prev
    expected = -(soft * torch.log_softmax(new, -1)).sum()
    assert float(residual_loss(new, previous, target)) == pytest.approx(float(expected))


def test_evaluation_adds_the_active_learners_to_each_modality() -> None:
    built = tiny("aug", fusion="shared")
    method = built.method
    method.active["weak"] = 1
    batch = built.batch()
    built.model.eval()
    with torch.no_grad():
        out = built.model(batch.inputs)
        features = built.model.encode(batch.inputs)
        plain = built.model.fusion(features).modality_logits
    weak = plain["weak"] + method.learners["weak"][0](features["weak"])
    assert torch.allclose(out.modality_logits["weak"], weak, atol=1e-6)
    assert torch.allclose(out.modality_logits["strong"], plain["strong"], atol=1e-6)
    assert torch.allclose(out.logits, (weak + plain["strong"]) / 2, atol=1e-6)


def test_resume_restores_the_grown_model_and_continues_exactly(tmp_path, monkeypatch) -> None:
    config = tiny_config(student__epochs=4, model__fusion={"name": "shared", "options": {}},
                         method={"name": "aug", "options": {"check_every": 1, "lam": 0.5}})
    full = api.train_student(config, tmp_path / "full", progress=False)

    train_interrupted_after(1, config, tmp_path / "cut", monkeypatch)
    resumed = api.train_student(config, tmp_path / "cut", progress=False, resume=True)

    rows_full = [r["modulators"]["aug"] for r in full.result.history]
    rows_cut = [r["modulators"]["aug"] for r in resumed.result.history]
    assert rows_full == rows_cut and sum(rows_full[-1]["learners"].values()) >= 2  # it grew, and the same way
    assert resumed.result.test == full.result.test
    for (n, p), (_, q) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(p, q), n
    # the grown learners (active counts and weights) are the same as in the uninterrupted run
    saved = [io.load_state(run.out_dir / "checkpoints" / "state.pt")["method"] for run in (full, resumed)]
    assert saved[0]["active"] == saved[1]["active"] == rows_full[-1]["learners"]
    assert all(torch.equal(saved[0]["learners"][k], saved[1]["learners"][k]) for k in saved[0]["learners"])

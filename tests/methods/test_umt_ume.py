"""UMT distils teacher features with the task loss on the fused head; UME is an ensemble of
unimodal models: it predicts the combination of independently trained unimodal outputs."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from g2d.config import OptimConfig
from g2d.model import MultimodalModel
from g2d.optim import build_optimizer
from g2d.validation import ConfigError
from tests.methods.tiny import tiny


def test_umt_loss_is_task_plus_feature_distillation() -> None:
    built = tiny("umt", {"alpha": 2.0})
    assert built.method.needs_teachers
    state = built.state()
    with torch.no_grad():
        out = built.model(state.batch.inputs)
        terms = built.method.objective(out, state.batch, state.teacher)
    assert set(terms) == {"task", "feat"}
    expected = 2.0 * sum(F.mse_loss(out.features[m], state.teacher.features[m]) for m in out.features)
    assert float(terms["feat"]) == pytest.approx(float(expected), rel=1e-6)
    assert float(terms["task"]) == pytest.approx(float(F.cross_entropy(out.logits, state.batch.target)), rel=1e-6)


def unimodal_copy(student: MultimodalModel, modality: str) -> MultimodalModel:
    """A one-modality model (a teacher's shape: encoder + its own linear head) with the student's
    weights for that modality."""
    from g2d.fusion.linear import LateFusion

    head = LateFusion({modality: student.encoders[modality].out_dim}, student.fusion.num_outputs)
    head.heads[modality].load_state_dict(student.fusion.heads[modality].state_dict())
    return MultimodalModel({modality: copy.deepcopy(student.encoders[modality])}, head)


def test_ume_predicts_the_mean_of_independently_trained_unimodal_models() -> None:
    built = tiny("ume", fusion="late", momentum=0.9, weight_decay=1e-3)
    unimodal = {m: unimodal_copy(built.model, m) for m in built.model.modalities}
    optim = OptimConfig(lr=0.05, momentum=0.9, weight_decay=1e-3)
    optimizers = {m: build_optimizer([{"params": list(u.parameters()), "lr": 0.05}], optim)
                  for m, u in unimodal.items()}
    for step in range(4):
        batch = built.batch(16 * step)
        built.step(step=step, batch=batch)
        for m, model in unimodal.items():  # each unimodal model alone on its modality, task loss
            loss = F.cross_entropy(model({m: batch.inputs[m]}).logits, batch.target)
            loss.backward()
            optimizers[m].step()
            optimizers[m].zero_grad(set_to_none=True)
    test = built.splits.test.get_batch(list(range(len(built.splits.test))))
    with torch.no_grad():
        fused = built.model(test.inputs).logits
        ensemble = torch.stack([u({m: test.inputs[m]}).logits for m, u in unimodal.items()]).mean(0)
    torch.testing.assert_close(fused, ensemble, rtol=1e-4, atol=1e-5)


def test_ume_encoder_gradients_ignore_the_other_modalities() -> None:
    built = tiny("ume")
    batch = built.batch()
    grads = []
    for scale in (1.0, 5.0):
        inputs = dict(batch.inputs, weak=batch.inputs["weak"] * scale)
        out = built.model(inputs)
        loss = torch.stack(list(built.method.objective(out, batch, None).values())).sum()
        built.model.zero_grad(set_to_none=True)
        loss.backward()
        grads.append([p.grad.clone() for p in built.model.encoders["strong"].parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_ume_regression_needs_late_fusion() -> None:
    with pytest.raises(ConfigError, match="model.fusion.name = 'late'"):
        tiny("ume", task="regression", fusion="concat")
    assert tiny("ume", task="regression", fusion="late").method.objective.terms

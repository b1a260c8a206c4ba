import math

import pytest
import torch

from g2d.objectives import feature_distillation, g2d_objective, logit_distillation, task_loss


def test_task_loss_classification_is_cross_entropy_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    target = torch.tensor([0, 0])
    by_hand = (-math.log(math.e**2 / (math.e**2 + 1)) - math.log(1 / (1 + math.e))) / 2
    assert task_loss(logits, target, "classification").item() == pytest.approx(by_hand, rel=1e-6)


def test_task_loss_regression_is_mse_of_sigmoid():
    logits = torch.tensor([[0.0], [math.log(3.0)]])  # sigmoid -> 0.5, 0.75
    target = torch.tensor([1.0, 0.25])
    assert task_loss(logits, target, "regression").item() == pytest.approx((0.25 + 0.25) / 2)


def test_feature_distillation_sums_mse_over_modalities_and_stops_teacher_gradient():
    student = {"a": torch.tensor([[1.0, 2.0]], requires_grad=True), "b": torch.tensor([[0.0, 0.0]])}
    teacher = {"a": torch.tensor([[0.0, 0.0]], requires_grad=True), "b": torch.tensor([[3.0, 1.0]])}
    loss = feature_distillation(student, teacher)
    assert loss.item() == pytest.approx((1 + 4) / 2 + (9 + 1) / 2)
    loss.backward()
    assert teacher["a"].grad is None and student["a"].grad is not None


def test_logit_distillation_kl_by_hand_with_temperature():
    z_s = torch.tensor([[0.0, 0.0]])
    z_t = {"a": torch.tensor([[math.log(3.0), 0.0]]), "b": torch.tensor([[0.0, 0.0]])}
    # T = 1: KL([.75,.25] || [.5,.5]) + KL(uniform || uniform) = .75 ln 1.5 + .25 ln .5
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert logit_distillation(z_s, z_t, "classification", 1.0).item() == pytest.approx(expected, rel=1e-5)
    # T = 2 halves the teacher's logits and multiplies by T²
    p = torch.softmax(torch.tensor([math.log(3.0) / 2, 0.0]), 0)
    expected_t2 = 4 * float((p * (p / 0.5).log()).sum())
    assert logit_distillation(z_s, z_t, "classification", 2.0).item() == pytest.approx(expected_t2, rel=1e-5)


def test_logit_distillation_regression_is_mse_between_sigmoids():
    z_s = torch.tensor([[0.0]])
    z_t = {"a": torch.tensor([[math.log(3.0)]])}
    assert logit_distillation(z_s, z_t, "regression").item() == pytest.approx(0.25**2)


def test_g2d_objective_weights_terms_and_names_them():
    from g2d.data.base import Batch
    from g2d.model import ModelOutput
    from g2d.objectives import TeacherOutputs

    out = ModelOutput(torch.tensor([[0.0, 0.0]]), {}, {"a": torch.tensor([[1.0]])})
    batch = Batch({}, torch.tensor([0]), torch.tensor([0]))
    teacher = TeacherOutputs({"a": torch.tensor([[math.log(3.0), 0.0]])}, {"a": torch.tensor([[0.0]])})
    terms = g2d_objective("classification", alpha=2.0, beta=0.5, temperature=1.0)(out, batch, teacher)
    assert set(terms) == {"task", "feat", "logit"}
    assert terms["task"].item() == pytest.approx(math.log(2))
    assert terms["feat"].item() == pytest.approx(2.0)
    assert terms["logit"].item() == pytest.approx(0.5 * (0.75 * math.log(1.5) + 0.25 * math.log(0.5)), rel=1e-5)


# The stacked (all modalities at once) terms against the per-modality sums they replace, written
# out here the way they were computed before: one loss per modality, then a sum. Random tensors,
# float32; the two differ only in summation order, so they agree to a few float32 ulps of the
# result: |Δ| ≤ 1e-6 · |value| + 1e-7 (float32 machine epsilon is 1.2e-7). Gradients likewise.
TOL = {"rtol": 1e-6, "atol": 1e-7}


def _per_modality_feature(student, teacher):
    import torch.nn.functional as F

    return torch.stack([F.mse_loss(student[m], teacher[m].detach()) for m in student]).sum()


def _per_modality_logit(z_s, z_t, task, temperature):
    import torch.nn.functional as F

    if task == "regression":
        s = torch.sigmoid(z_s.squeeze(-1))
        return torch.stack([F.mse_loss(s, torch.sigmoid(t.squeeze(-1))) for t in z_t.values()]).sum()
    log_s = F.log_softmax(z_s / temperature, dim=-1)
    return temperature ** 2 * torch.stack([F.kl_div(log_s, F.log_softmax(t / temperature, dim=-1), log_target=True,
                                                    reduction="batchmean") for t in z_t.values()]).sum()


def _random(m: int, batch: int, widths: list[int], classes: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    names = [f"m{i}" for i in range(m)]
    f_s = {n: (3 * torch.randn(batch, widths[i % len(widths)], generator=gen)).requires_grad_() for i, n in enumerate(names)}
    f_t = {n: 3 * torch.randn(batch, widths[i % len(widths)], generator=gen) for i, n in enumerate(names)}
    z_s = (4 * torch.randn(batch, classes, generator=gen)).requires_grad_()
    z_t = {n: 4 * torch.randn(batch, classes, generator=gen) for n in names}
    return f_s, f_t, z_s, z_t


@pytest.mark.parametrize("m,batch,widths", [(1, 5, [7]), (2, 8, [64]), (3, 33, [64]), (6, 512, [64]),
                                            (3, 16, [8, 24]), (6, 7, [5, 5, 9])])
def test_stacked_feature_distillation_equals_the_per_modality_sum(m, batch, widths):
    f_s, f_t, _, _ = _random(m, batch, widths, 3, seed=m + batch)
    new, old = feature_distillation(f_s, f_t), _per_modality_feature(f_s, f_t)
    torch.testing.assert_close(new, old, **TOL)
    grads_new = torch.autograd.grad(new, list(f_s.values()))
    grads_old = torch.autograd.grad(old, list(f_s.values()))
    for a, b in zip(grads_new, grads_old):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("task,temperature", [("classification", 1.0), ("classification", 2.5),
                                              ("regression", 1.0)])
@pytest.mark.parametrize("m,batch,classes", [(1, 4, 10), (2, 8, 10), (3, 64, 7), (6, 512, 10), (2, 16, 309)])
def test_stacked_logit_distillation_equals_the_per_modality_sum(task, temperature, m, batch, classes):
    classes = 1 if task == "regression" else classes
    _, _, z_s, z_t = _random(m, batch, [4], classes, seed=7 * m + batch)
    new = logit_distillation(z_s, z_t, task, temperature)
    old = _per_modality_logit(z_s, z_t, task, temperature)
    torch.testing.assert_close(new, old, **TOL)
    torch.testing.assert_close(torch.autograd.grad(new, z_s)[0], torch.autograd.grad(old, z_s)[0], **TOL)


def test_temperature_one_and_unit_weights_change_no_bit():
    """T = 1 skips the division by T and the T² factor, weight 1 skips its product: x/1, 1·x are x."""
    _, _, z_s, z_t = _random(3, 16, [4], 10, seed=3)
    assert torch.equal(logit_distillation(z_s, z_t, "classification", 1.0),
                       logit_distillation(z_s / 1.0, {k: v / 1.0 for k, v in z_t.items()}, "classification", 1.0))
    from g2d.data.base import Batch
    from g2d.model import ModelOutput
    from g2d.objectives import TeacherOutputs

    f_s, f_t, _, _ = _random(3, 16, [4], 10, seed=3)
    out, teacher = ModelOutput(z_s, {}, f_s), TeacherOutputs(z_t, f_t)
    batch = Batch({}, torch.zeros(16, dtype=torch.long), torch.arange(16))
    terms = g2d_objective("classification", 1.0, 1.0, 1.0)(out, batch, teacher)
    assert torch.equal(terms["feat"], feature_distillation(f_s, f_t))
    assert torch.equal(terms["logit"], logit_distillation(z_s, z_t, "classification", 1.0))


def test_teacher_side_of_the_stacked_terms_carries_no_gradient():
    f_s, f_t, z_s, z_t = _random(2, 4, [3], 5, seed=0)
    f_t = {k: v.requires_grad_() for k, v in f_t.items()}
    z_t = {k: v.requires_grad_() for k, v in z_t.items()}
    (feature_distillation(f_s, f_t) + logit_distillation(z_s, z_t, "classification", 2.0)).backward()
    assert all(v.grad is None for v in [*f_t.values(), *z_t.values()])
    assert z_s.grad is not None and all(v.grad is not None for v in f_s.values())


def test_modality_logit_distillation_pairs_each_teacher_with_its_own_path():
    from g2d.objectives import modality_logit_distillation

    own = {"a": torch.tensor([[0.0, 0.0]]), "b": torch.tensor([[0.0, 0.0]])}
    z_t = {"a": torch.tensor([[math.log(3.0), 0.0]]), "b": torch.tensor([[0.0, 0.0]])}
    # teacher a against z_s^a only: KL([.75,.25] || [.5,.5]); teacher b matches z_s^b exactly (0)
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert modality_logit_distillation(own, z_t, "classification").item() == pytest.approx(expected, rel=1e-5)
    swapped = {"a": own["a"], "b": torch.tensor([[math.log(3.0), 0.0]])}  # z_s^b now wrong for teacher b
    assert modality_logit_distillation(swapped, z_t, "classification").item() > expected + 0.1


@pytest.mark.parametrize("task,temperature", [("classification", 1.0), ("classification", 2.5), ("regression", 1.0)])
def test_modality_logit_distillation_equals_the_per_modality_sum(task, temperature):
    from g2d.objectives import modality_logit_distillation

    classes = 1 if task == "regression" else 6
    gen = torch.Generator().manual_seed(5)
    own = {m: (3 * torch.randn(9, classes, generator=gen)).requires_grad_() for m in "abc"}
    z_t = {m: 3 * torch.randn(9, classes, generator=gen) for m in "abc"}
    stacked = modality_logit_distillation(own, z_t, task, temperature)
    per_modality = torch.stack([_per_modality_logit(own[m], {m: z_t[m]}, task, temperature) for m in own]).sum()
    torch.testing.assert_close(stacked, per_modality, **TOL)


def test_g2d_objective_adds_the_own_term_only_when_gamma_is_set():
    from g2d.data.base import Batch
    from g2d.model import ModelOutput
    from g2d.objectives import TeacherOutputs

    out = ModelOutput(torch.tensor([[0.0, 0.0]]), {"a": torch.tensor([[0.0, 0.0]])}, {"a": torch.tensor([[1.0]])})
    batch = Batch({}, torch.tensor([0]), torch.tensor([0]))
    teacher = TeacherOutputs({"a": torch.tensor([[math.log(3.0), 0.0]])}, {"a": torch.tensor([[0.0]])})
    assert "own" not in g2d_objective("classification", 1.0, 1.0, 1.0)(out, batch, teacher)
    terms = g2d_objective("classification", 1.0, 1.0, 1.0, gamma=2.0)(out, batch, teacher)
    assert terms["own"].item() == pytest.approx(2 * (0.75 * math.log(1.5) + 0.25 * math.log(0.5)), rel=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_objective_on_stacked_cache_outputs_equals_the_per_modality_sums(temperature):
    """What a step gets from the resident cache (stacked logits, features, T=1 log-softmax) and the
    student's shared per-modality log-softmax give each term's per-modality sum, values and gradients."""
    import torch.nn.functional as F

    from g2d.data.base import Batch
    from g2d.model import ModelOutput
    from g2d.objectives import TeacherOutputs

    f_s, f_t, z_s, z_t = _random(3, 700, [16], 6, seed=5)  # 3·700·6 logits: the padded log-softmax path
    gen = torch.Generator().manual_seed(6)
    own = {m: (4 * torch.randn(700, 6, generator=gen)).requires_grad_() for m in z_t}
    logit_stack, feature_stack = torch.stack(list(z_t.values())), torch.stack(list(f_t.values()))
    teacher = TeacherOutputs(dict(zip(z_t, logit_stack.unbind())), dict(zip(f_t, feature_stack.unbind())),
                             logit_stack=logit_stack, feature_stack=feature_stack)
    teacher.set_log_probs(1.0, F.log_softmax(logit_stack, -1))
    batch = Batch({}, torch.zeros(700, dtype=torch.long), torch.arange(700))
    terms = g2d_objective("classification", 1.0, 1.0, temperature, gamma=1.0)(ModelOutput(z_s, own, f_s), batch, teacher)
    own_ref = temperature ** 2 * sum(F.kl_div(F.log_softmax(own[m] / temperature, -1),
                                              F.log_softmax(z_t[m] / temperature, -1), log_target=True,
                                              reduction="batchmean") for m in z_t)
    expected = {"feat": _per_modality_feature(f_s, f_t), "logit": _per_modality_logit(z_s, z_t, "classification",
                                                                                     temperature), "own": own_ref}
    for name, ref in expected.items():
        leaves = list(f_s.values()) if name == "feat" else [z_s] if name == "logit" else list(own.values())
        got_grads = torch.autograd.grad(terms[name], leaves, retain_graph=True)
        ref_grads = torch.autograd.grad(ref, leaves)
        torch.testing.assert_close(terms[name], ref, rtol=1e-5, atol=1e-6)
        for g, r in zip(got_grads, ref_grads):
            torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("alpha, gamma", [(1.0, 1.0), (0.5, 2.0)])
def test_the_fused_feature_and_own_terms_equal_the_term_by_term_objective(alpha, gamma):
    """g2d_objective computes α·L_feat and γ·L_own in one node where it can; the same objective
    term by term (fused=None) gives the same values and gradients, and SMP reads the same log-softmax."""
    from dataclasses import replace

    import torch.nn.functional as F

    from g2d.data.base import Batch
    from g2d.model import ModelOutput
    from g2d.objectives import TeacherOutputs

    f_s, f_t, z_s, z_t = _random(3, 40, [16], 10, seed=11)
    own = {m: (2 * torch.randn(40, 10, generator=torch.Generator().manual_seed(k))).requires_grad_()
           for k, m in enumerate(z_t)}
    batch = Batch({}, torch.zeros(40, dtype=torch.long), torch.arange(40))
    fused = g2d_objective("classification", alpha, 1.0, 1.0, gamma=gamma)
    assert fused.fused is not None
    results = []
    for objective in (fused, replace(fused, fused=None)):
        stack, feats = torch.stack(list(z_t.values())), torch.stack(list(f_t.values()))
        teacher = TeacherOutputs(dict(zip(z_t, stack.unbind())), dict(zip(f_t, feats.unbind())),
                                 logit_stack=stack, feature_stack=feats)
        out = ModelOutput(z_s, own, f_s)
        terms = objective(out, batch, teacher)
        leaves = [*f_s.values(), z_s, *own.values()]
        grads = torch.autograd.grad(torch.stack(list(terms.values())).sum(), leaves)
        results.append((terms, grads, out.measured_log_probs(tuple(z_t))))
    (got, got_grads, got_lq), (ref, ref_grads, ref_lq) = results
    assert list(got) == list(ref) == ["task", "feat", "logit", "own"]
    for name in ref:
        torch.testing.assert_close(got[name], ref[name], rtol=1e-5, atol=1e-6)
    for g, r in zip(got_grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(got_lq, ref_lq, rtol=0, atol=1e-6)
    torch.testing.assert_close(got_lq, F.log_softmax(torch.stack(list(own.values())), -1), rtol=0, atol=1e-6)


def test_the_fused_terms_step_aside_where_features_do_not_stack():
    """Encoders of different widths (no stacked teacher features), T ≠ 1 or a zero weight: term by term."""
    from g2d.data.base import Batch
    from g2d.model import ModelOutput
    from g2d.objectives import TeacherOutputs

    f_s, f_t, z_s, z_t = _random(2, 8, [4, 6], 5, seed=2)
    own = {m: z.clone().requires_grad_() for m, z in z_t.items()}
    teacher = TeacherOutputs(z_t, f_t)  # no feature_stack
    objective = g2d_objective("classification", 1.0, 0.0, 1.0, gamma=1.0)
    out = ModelOutput(z_s, own, f_s)
    assert objective.fused(out, Batch({}, torch.zeros(8, dtype=torch.long), torch.arange(8)), teacher) is None
    assert g2d_objective("classification", 1.0, 0.0, 2.0, gamma=1.0).fused is None
    assert g2d_objective("classification", 0.0, 0.0, 1.0, gamma=1.0).fused is None
    assert g2d_objective("regression", 1.0, 0.0, 1.0, gamma=1.0).fused is None

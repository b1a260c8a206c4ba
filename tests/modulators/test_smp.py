"""SMP: which encoder learns in which epoch and step, exactly (SGD momentum + weight decay on)."""
import pytest
import torch

from g2d.data.base import Batch, DatasetInfo
from g2d.methods import MethodContext, build_method
from g2d.model import build_model
from g2d.modulators.base import StepState
from g2d.objectives import TeacherOutputs
from g2d.optim import build_optimizer
from g2d.step import StepRunner
from g2d.config import OptimConfig


PAPER = {"ranking": "teacher", "schedule": "fixed"}  # the paper's SMP: these tests pin it exactly


def make(modalities, phases, epochs=10, method="g2d"):
    torch.manual_seed(0)
    info = DatasetInfo(tuple(modalities), "classification", 3, {m: (4,) for m in modalities})
    enc = {m: {"name": "mlp", "options": {"hidden": [8], "out_dim": 5}} for m in modalities}
    model = build_model(info, enc, {"name": "concat"})
    ctx = MethodContext(tuple(modalities), "classification", epochs, model)
    meth = build_method(method, {"phases": phases, **PAPER}, ctx)
    opt = build_optimizer(meth.param_groups(model, 0.1), OptimConfig(lr=0.1, momentum=0.9, weight_decay=0.1))
    return model, meth, StepRunner(model, opt, torch.device("cpu"), "fp32")


def teacher_for(confidence: dict[str, float], n=6):
    """Teacher logits whose true-label probability is exactly ``confidence[m]`` on every sample."""
    logits, feats = {}, {}
    for m, p in confidence.items():
        rest = (1 - p) / 2
        logits[m] = torch.log(torch.tensor([[p, rest, rest]])).repeat(n, 1)
        feats[m] = torch.zeros(n, 5)
    return TeacherOutputs(logits, feats)


def step(model, meth, runner, epoch, confidence):
    torch.manual_seed(epoch)
    n = 6
    batch = Batch({m: torch.randn(n, 4) for m in model.modalities}, torch.zeros(n, dtype=torch.long),
                  torch.arange(n))
    teacher = teacher_for(confidence, n)
    state = StepState(epoch, 0, model.modalities, "classification", batch, teacher,
                      {m: torch.tensor(c) for m, c in confidence.items()})
    grads_computed = {m: 0 for m in model.modalities}
    handles = [p.register_hook(lambda g, m=m: grads_computed.__setitem__(m, grads_computed[m] + 1))
               for m in model.modalities for p in model.encoders[m].parameters()]
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    meth.training_step(runner, state)
    for h in handles:
        h.remove()
    changed = {m: any(not torch.equal(before[f"encoders.{m}.{n}"], p)
                      for n, p in model.encoders[m].named_parameters()) for m in model.modalities}
    fusion_changed = any(not torch.equal(before[f"fusion.{n}"], p) for n, p in model.fusion.named_parameters())
    return changed, grads_computed, fusion_changed, state


def test_two_modalities_phase_then_joint():
    model, meth, runner = make(["audio", "video"], [2], epochs=4)
    conf = {"audio": 0.9, "video": 0.4}  # video least confident
    # joint step first, so every encoder has a momentum buffer to leak from
    changed, grads, fusion, _ = step(model, meth, runner, 3, conf)
    assert changed == {"audio": True, "video": True} and fusion
    for epoch in (0, 1):  # phase 1: only video learns, audio bit-for-bit unchanged
        for _ in range(2):
            changed, grads, fusion, state = step(model, meth, runner, epoch, conf)
            assert changed == {"audio": False, "video": True}
            assert grads["audio"] == 0 and grads["video"] > 0  # no backward through audio at all
            assert fusion and state.active == frozenset({"video"})
    changed, _, _, state = step(model, meth, runner, 2, conf)  # joint phase
    assert changed == {"audio": True, "video": True} and state.active is None


def test_ranking_follows_each_batch():
    model, meth, runner = make(["audio", "video"], [2], epochs=4)
    changed, *_ = step(model, meth, runner, 0, {"audio": 0.3, "video": 0.8})
    assert changed == {"audio": True, "video": False}
    changed, *_ = step(model, meth, runner, 0, {"audio": 0.8, "video": 0.3})
    assert changed == {"audio": False, "video": True}


def test_three_modalities_each_phase_trains_its_rank():
    model, meth, runner = make(["a", "b", "c"], [1, 2], epochs=5)
    conf = {"a": 0.7, "b": 0.2, "c": 0.5}  # ascending: b, c, a
    expected = {0: "b", 1: "c", 2: "c"}
    for epoch, learner in expected.items():
        changed, grads, fusion, _ = step(model, meth, runner, epoch, conf)
        assert changed == {m: m == learner for m in "abc"}, epoch
        assert {m for m, g in grads.items() if g} == {learner}
        assert fusion
    for epoch in (3, 4):
        changed, *_ = step(model, meth, runner, epoch, conf)
        assert all(changed.values())


def test_tie_goes_to_the_first_declared_modality():
    model, meth, runner = make(["a", "b"], [1], epochs=2)
    changed, *_ = step(model, meth, runner, 0, {"a": 0.5, "b": 0.5})
    assert changed == {"a": True, "b": False}


def test_zero_phases_is_plain_joint_training():
    model, meth, runner = make(["a", "b"], [0], epochs=2)
    changed, *_ = step(model, meth, runner, 0, {"a": 0.9, "b": 0.1})
    assert all(changed.values())


def test_smp_composes_with_joint_through_config_modulators():
    from g2d.methods import build_method as build
    torch.manual_seed(0)
    model, _, runner = make(["a", "b"], [1], epochs=2)
    ctx = MethodContext(("a", "b"), "classification", 2, model)
    meth = build("joint", {}, ctx, [{"name": "smp", "options": {"phases": [1], **PAPER}}])
    assert meth.needs_teachers
    changed, *_ = step(model, meth, runner, 0, {"a": 0.9, "b": 0.1})
    assert changed == {"a": False, "b": True}


@pytest.mark.skipif(not torch.backends.cpu.get_cpu_capability(), reason="no CPU capability info")
def test_suppression_exact_under_bf16_autocast():
    model, meth, _ = make(["a", "b"], [1], epochs=2)
    opt = build_optimizer(meth.param_groups(model, 0.1), OptimConfig(lr=0.1, momentum=0.9, weight_decay=0.1))
    runner = StepRunner(model, opt, torch.device("cpu"), "bf16")
    step(model, meth, runner, 1, {"a": 0.9, "b": 0.1})  # joint step builds momentum
    changed, *_ = step(model, meth, runner, 0, {"a": 0.9, "b": 0.1})
    assert changed == {"a": False, "b": True}

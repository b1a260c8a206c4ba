"""The public pieces (g2d.public: G2DLoss, SMP, TeacherCache): defaults equal method g2d's, the
errors users see, and a plain-PyTorch loop written with them computes what `g2d train` computes."""
from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from g2d import api
from g2d.config import replace
from g2d.methods.g2d import G2DOptions
from g2d.modulators.smp import SMPOptions
from g2d.public import SMP, G2DLoss, TeacherCache, TeacherOutputs
from g2d.teachers import teacher_from_module
from g2d.validation import CacheMismatchError, ConfigError

ROOT = Path(__file__).resolve().parents[1]


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- defaults ---------------------------------------------------------------------------------
def test_g2d_loss_defaults_are_method_g2d_defaults():
    params = inspect.signature(G2DLoss).parameters
    method = G2DOptions()
    for name in ("alpha", "beta", "gamma", "temperature"):
        assert params[name].default == getattr(method, name), name
    loss = G2DLoss()
    assert (loss.alpha, loss.beta, loss.gamma, loss.temperature) == (method.alpha, method.beta, method.gamma,
                                                                     method.temperature)


def test_smp_defaults_are_method_g2d_defaults_and_cover_every_option():
    params = inspect.signature(SMP).parameters
    method = G2DOptions()
    for name in SMPOptions.model_fields:  # a new SMP option must reach the public object too
        assert params[name].default == getattr(method, name), name
    smp = SMP(["a", "b"], 20)
    assert (smp.ranking, smp.schedule, smp.rank_every) == ("neglect", "adaptive", "epoch")
    from g2d.methods import MethodContext, build_method

    modulator = build_method("g2d", {}, MethodContext(("a", "b"), "classification", 20, None)).modulators[0]
    for field in ("phases", "ranking", "order", "rank_every", "schedule", "margin", "max_phase", "budget"):
        assert getattr(modulator.smp, field) == getattr(smp, field), field


def test_smp_paper_is_one_call_away():
    paper = SMP.paper(["a", "b"], 10)
    assert (paper.ranking, paper.schedule, paper.rank_every, paper.phases) == ("teacher", "fixed", "batch", [5])


# ---- errors -----------------------------------------------------------------------------------
B, C = 4, 3


def tensors(modalities=("a", "b")):
    return {"logits": torch.randn(B, C), "modality_logits": {m: torch.randn(B, C) for m in modalities},
            "features": {m: torch.randn(B, 5) for m in modalities},
            "teacher_logits": {m: torch.randn(B, C) for m in modalities},
            "teacher_features": {m: torch.randn(B, 5) for m in modalities}}


def call(loss: G2DLoss, target: torch.Tensor | None = None, **changes):
    kw = tensors() | changes
    return loss(kw.pop("logits"), target=torch.tensor([0, 1, 2, 0]) if target is None else target, **kw)


def test_g2d_loss_terms_sum_to_the_loss_and_zero_weights_drop_out():
    out = call(G2DLoss())
    assert set(out.terms) == {"task", "feat", "own"}  # beta = 0 by default
    assert torch.equal(out.loss, torch.stack(list(out.terms.values())).sum())
    assert set(call(G2DLoss(beta=1.0, gamma=0.0)).terms) == {"task", "feat", "logit"}


@pytest.mark.parametrize("changes, target, words", [
    ({"features": None}, None, r"alpha=1.0 needs features="),
    ({"modality_logits": None}, None, r"gamma=1.0 needs modality_logits="),
    ({"teacher_logits": None}, None, r"need the teachers' logits"),
    ({"teacher_features": None}, None, r"needs the teachers' features"),
    ({"features": {"a": torch.randn(B, 5)}}, None, r"features has modalities \['a'\], the teachers' outputs have "
                                                   r"\['a', 'b'\]"),
    ({"modality_logits": {"a": torch.randn(B, C), "b": torch.randn(B, C + 1)}}, None,
     r"modality_logits\['b'\] has shape \(4, 4\), expected the fused logits' shape \(4, 3\)"),
    ({"features": {"a": torch.randn(B, 5), "b": torch.randn(B, 6)}}, None,
     r"features\['b'\] has shape \(4, 6\), expected the teacher's \(4, 5\)"),
    ({}, torch.tensor([0.0, 1.0, 2.0, 0.0]), r"integer class indices .* got dtype torch.float32"),
    ({}, torch.tensor([0, 1, 2]), r"target has shape \(3,\), expected \(4,\)"),
])
def test_g2d_loss_names_what_is_wrong(changes, target, words):
    with pytest.raises(ValueError, match=words):
        call(G2DLoss(), target, **changes)


def test_g2d_loss_refuses_bad_weights_and_two_teacher_sources():
    with pytest.raises(ConfigError, match="alpha"):
        G2DLoss(alpha=-1.0)
    with pytest.raises(ConfigError, match="task must be one of"):
        G2DLoss("ranking")
    t = tensors()
    teacher = TeacherOutputs(t["teacher_logits"], t["teacher_features"])
    with pytest.raises(ValueError, match="either teacher= .* not both"):
        call(G2DLoss(), teacher=teacher)


def test_g2d_loss_equals_the_objective_on_cached_and_online_teachers():
    t = tensors()
    teacher = TeacherOutputs(t["teacher_logits"], t["teacher_features"])
    kw = {k: v for k, v in t.items() if not k.startswith("teacher")}
    y = torch.tensor([0, 1, 2, 0])
    a = G2DLoss(beta=0.5)(kw.pop("logits"), target=y, teacher=teacher, **kw)
    b = G2DLoss(beta=0.5)(t["logits"], target=y, modality_logits=t["modality_logits"], features=t["features"],
                          teacher_logits=t["teacher_logits"], teacher_features=t["teacher_features"])
    assert a.terms.keys() == b.terms.keys() and all(torch.equal(a.terms[k], b.terms[k]) for k in a.terms)


@pytest.mark.parametrize("options, words", [
    ({"phases": [3, 3]}, r"phases: expected 1 values"),
    ({"ranking": "fixed"}, r"needs 'order'"),
    ({"ranking": "sideways"}, r"ranking"),
    ({"phases": [30]}, r"exceeds student.epochs = 10"),
])
def test_smp_options_are_validated_as_in_a_config(options, words):
    with pytest.raises(ConfigError, match=words):
        SMP(["a", "b"], 10, **options)


def test_smp_names_missing_inputs():
    paper = SMP.paper(["a", "b"], 10)
    with pytest.raises(ValueError, match=r"pass teacher= .* and target="):
        paper.select(0)
    smp = SMP(["a", "b"], 10)
    with pytest.raises(ValueError, match=r"SMP.encode: inputs has modalities \['a'\], expected \['a', 'b'\]"):
        smp.encode({"a": torch.nn.Identity(), "b": torch.nn.Identity()}, {"a": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"modality_logits lacks \['b'\]"):
        smp.observe({"a": torch.zeros(2, 3)}, {"a": torch.zeros(2, 3), "b": torch.zeros(2, 3)}, torch.zeros(2).long())


def test_smp_encode_runs_suppressed_encoders_without_autograd():
    smp = SMP.paper(["a", "b"], 4)
    encoders = {m: torch.nn.Linear(2, 2) for m in "ab"}
    teacher = {"a": torch.tensor([[5.0, 0.0]]), "b": torch.tensor([[0.0, 5.0]])}  # b's teacher less confident
    assert smp.select(0, teacher=teacher, target=torch.tensor([0])) == frozenset({"b"})
    features = smp.encode(encoders, {m: torch.ones(1, 2) for m in "ab"})
    assert not features["a"].requires_grad and features["b"].requires_grad
    assert smp.select(3) == frozenset({"a", "b"})  # the joint phase needs no teacher


# ---- TeacherCache outside the trainer ---------------------------------------------------------
class TinyTeacher(torch.nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.body, self.head = torch.nn.Linear(width, 4), torch.nn.Linear(4, 3)

    def forward(self, x):
        f = self.body(x)
        return self.head(f), f


def test_teacher_cache_builds_from_modules_opens_and_looks_up_by_index(tmp_path):
    from g2d.data.memory import from_arrays

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x = {"a": torch.randn(60, 2, generator=g).numpy(), "b": torch.randn(60, 3, generator=g).numpy()}
    splits = from_arrays(x, torch.arange(60).remainder(3).numpy())
    teachers = {"a": TinyTeacher(2), "b": TinyTeacher(3)}
    built = TeacherCache.build(tmp_path / "cache", teachers, splits.train)
    opened = TeacherCache.open(tmp_path / "cache")
    rows = [5, 0, 7]
    got = opened.lookup_indices(rows)
    batch = splits.train.get_batch(rows)
    for m, module in teachers.items():
        logits, features = module(batch.inputs[m])
        assert torch.allclose(got.logits[m], logits, atol=1e-6) and torch.allclose(got.features[m], features, atol=1e-6)
        assert torch.equal(built.lookup_indices(rows).logits[m], got.logits[m])
    with pytest.raises(IndexError, match=r"sample indices must lie in \[0, "):
        opened.lookup_indices([len(splits.train)])
    with torch.no_grad():
        teachers["a"].head.bias.add_(1.0)  # another teacher: the full check refuses the cache
    from g2d.cache import open_cache
    with pytest.raises(CacheMismatchError, match="teacher 'a': weights changed"):
        open_cache(tmp_path / "cache", {m: teacher_from_module(m, t) for m, t in teachers.items()}, splits.train,
                   torch.device("cpu"))


def test_a_teacher_module_with_the_wrong_output_is_named(tmp_path):
    from g2d.data.memory import from_arrays
    from g2d.validation import G2DError

    splits = from_arrays({"a": torch.randn(30, 2).numpy(), "b": torch.randn(30, 2).numpy()},
                         torch.arange(30).remainder(3).numpy())
    with pytest.raises(G2DError, match=r"teacher 'a' \(Linear\) must return \(logits, features\)"):
        TeacherCache.build(tmp_path / "c", {"a": torch.nn.Linear(2, 3), "b": TinyTeacher(2)}, splits.train)


# ---- a loop of one's own == g2d train ---------------------------------------------------------
@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo's teachers (2 epochs) and their cache, shared by both code paths."""
    example = load_example("own_loop")
    run = tmp_path_factory.mktemp("own-loop")
    config, _ = example.prepare(run)
    return example, replace(config, {"analysis.track": False}), run


@pytest.mark.parametrize("smp_options", [{}, {"ranking": "teacher", "schedule": "fixed"}], ids=["default", "paper"])
def test_own_loop_with_the_public_pieces_equals_g2d_train(demo_run, smp_options):
    example, config, run = demo_run
    config = replace(config, {f"method.options.{k}": v for k, v in smp_options.items()})
    name = "paper" if smp_options else "default"
    student = api.train_student(config, run, progress=False, name=name)
    cache = TeacherCache.open(run / "cache")
    info = api.load_data(config).info
    smp = SMP(info.modalities, config.student.epochs, task=info.task, phases=[2], **smp_options)
    model, log = example.train(config, cache, smp)

    history = student.result.history
    assert [row["modulators"]["smp"] for row in history] == [row["smp"] for row in log]  # the same schedule
    assert any(row["smp"]["prioritised"] for row in log)  # ... with a prioritisation phase in it
    for row, mine in zip(history, log):  # the same losses, term by term
        assert set(mine["loss"]) == set(row["train"]) - {"loss"}
        for term, value in mine["loss"].items():
            assert value == pytest.approx(row["train"][term], rel=1e-5, abs=1e-7), (row["epoch"], term)
    last = load_file(str(next((student.out_dir / "checkpoints").glob("model-e*.safetensors"))))
    mine = model.state_dict()
    assert last.keys() == mine.keys()
    for key, value in last.items():  # the same final weights
        assert torch.allclose(mine[key], value, rtol=1e-5, atol=1e-6), key

"""Mixed precision, loss scaling, memory layout and the loader: complete suppression stays exact."""
from __future__ import annotations

import pytest
import torch

from g2d.config import OptimConfig
from g2d.data.base import Batch, DatasetInfo, TensorDataset
from g2d.methods import MethodContext, build_method
from g2d.model import build_model
from g2d.modulators.base import Modulator, StepState
from g2d.objectives import TeacherOutputs
from g2d.runtime import move_batch, prepare_model, resolve_device
from g2d.scoring import rank_ascending
from g2d.data.loader import make_loader, set_loader_seed
from g2d.optim import build_optimizer
from g2d.step import StepRunner

MODS = ("a", "b")


def setup(precision: str, encoder: dict | None = None, shape: tuple[int, ...] = (4,)):
    torch.manual_seed(0)
    info = DatasetInfo(MODS, "classification", 3, {m: shape for m in MODS})
    enc = encoder or {"name": "mlp", "options": {"hidden": [8], "out_dim": 5}}
    model = build_model(info, {m: enc for m in MODS}, {"name": "concat"})
    method = build_method("g2d", {"phases": [1], "ranking": "teacher", "schedule": "fixed"}, MethodContext(MODS, "classification", 2, model))
    optim = build_optimizer(method.param_groups(model, 0.1), OptimConfig(lr=0.1, momentum=0.9, weight_decay=0.1))
    return model, method, StepRunner(model, optim, torch.device("cpu"), precision)


def state_for(model, epoch: int, conf: dict[str, float], shape=(4,), seed: int = 0) -> StepState:
    gen = torch.Generator().manual_seed(seed)
    n = 6
    batch = Batch({m: torch.randn(n, *shape, generator=gen) for m in MODS},
                  torch.randint(0, 3, (n,), generator=gen), torch.arange(n))
    dim = model.encoders["a"].out_dim
    teacher = TeacherOutputs({m: torch.randn(n, 3, generator=gen) for m in MODS},
                             {m: torch.randn(n, dim, generator=gen) for m in MODS})
    return StepState(epoch, 0, MODS, "classification", batch, teacher, {m: torch.tensor(c) for m, c in conf.items()})


def params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def momentum(runner: StepRunner, module: torch.nn.Module) -> list[torch.Tensor | None]:
    bufs = [runner.optimizer.state.get(p, {}).get("momentum_buffer") for p in module.parameters()]
    return [b.clone() if b is not None else None for b in bufs]


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_suppressed_encoder_is_bit_for_bit_unchanged_under_mixed_precision(precision):
    model, method, runner = setup(precision)
    for seed in range(2):  # joint steps first: every encoder has momentum to leak
        method.training_step(runner, state_for(model, 1, {"a": 0.9, "b": 0.1}, seed=seed))
    before_a, before_b = params(model.encoders["a"]), params(model.encoders["b"])
    mom_a = momentum(runner, model.encoders["a"])
    for seed in range(3):  # SMP phase: b is the least confident, a is suppressed
        state = state_for(model, 0, {"a": 0.9, "b": 0.1}, seed=seed)
        method.training_step(runner, state)
        assert state.active == frozenset({"b"})
        assert all(p.grad is None for p in model.parameters())  # set to None after each step
    assert same(before_a, params(model.encoders["a"]))
    assert all(torch.equal(x, y) for x, y in zip(mom_a, momentum(runner, model.encoders["a"])))
    assert not same(before_b, params(model.encoders["b"]))
    if precision == "fp16":
        assert runner.scaler is not None and runner.scaler.get_scale() > 0


class InjectInf(Modulator):
    """Puts an inf into the learning encoder's (still scaled) gradient on chosen steps."""

    def __init__(self, model: torch.nn.Module, steps: set[int]) -> None:
        self.model, self.steps, self.count = model, steps, 0

    def on_after_backward(self, state: StepState) -> None:
        if self.count in self.steps:
            grad = next(p.grad for p in self.model.encoders["b"].parameters())
            grad.view(-1)[0] = float("inf")
        self.count += 1


def test_fp16_skipped_step_moves_nothing_and_suppression_holds_after_it():
    model, method, runner = setup("fp16")
    inject = InjectInf(model, {2})
    method.add_modulators([inject])
    conf = {"a": 0.9, "b": 0.1}

    def step(seed: int, epoch: int = 0) -> StepState:
        state = state_for(model, epoch, conf, seed=seed)
        method.training_step(runner, state)
        return state

    step(0, epoch=1)  # joint step: momentum everywhere
    step(1)  # SMP step, finite
    scale = runner.scaler.get_scale()
    everything = params(model)
    mom = {m: momentum(runner, model.encoders[m]) for m in MODS}
    step(2)  # SMP step with an inf gradient: GradScaler skips optimizer.step()
    assert runner.scaler.get_scale() == scale * runner.scaler.get_backoff_factor()
    assert same(everything, params(model))  # nothing moved: not b, not a, not the head
    for m in MODS:
        assert all(torch.equal(x, y) for x, y in zip(mom[m], momentum(runner, model.encoders[m])))
    before_a = params(model.encoders["a"])
    step(3)  # finite again: b and the head learn, a still untouched
    assert same(before_a, params(model.encoders["a"]))
    assert not same(everything, params(model))


def test_channels_last_cnn_matches_the_default_layout():
    enc = {"name": "resnet18", "options": {"width": 0.125}}
    results = []
    for channels_last in (False, True):
        model, method, runner = setup("fp32", enc, (1, 40, 40))
        prepare_model(model, torch.device("cpu"), channels_last=channels_last)
        state = state_for(model, 1, {"a": 0.5, "b": 0.4}, shape=(1, 40, 40))
        state.batch = move_batch(state.batch, torch.device("cpu"), channels_last)
        if channels_last:
            conv = model.encoders["a"].stem[0].weight
            assert conv.is_contiguous(memory_format=torch.channels_last)
            assert state.batch.inputs["a"].is_contiguous(memory_format=torch.channels_last)
        method.training_step(runner, state)
        results.append(params(model))
    for name in results[0]:
        torch.testing.assert_close(results[0][name], results[1][name], rtol=1e-3, atol=1e-4)


def test_move_batch_keeps_the_index_on_the_host():
    batch = Batch({"a": torch.ones(2, 3)}, torch.zeros(2), torch.arange(2))
    moved = move_batch(batch, torch.device("cpu"))
    assert moved.index is batch.index and torch.equal(moved.inputs["a"], batch.inputs["a"])


def test_ranking_reads_tensor_confidences_once_and_keeps_ties_in_order():
    conf = {"a": torch.tensor(0.4), "b": torch.tensor(0.2), "c": torch.tensor(0.4)}
    assert rank_ascending(conf, ("a", "b", "c")) == ["b", "a", "c"]
    assert rank_ascending({"a": 0.4, "b": 0.2, "c": 0.4}, ("c", "b", "a")) == ["b", "c", "a"]


def test_one_loader_reshuffles_per_epoch_like_a_seeded_randperm():
    info = DatasetInfo(("a",), "classification", 2, {"a": (1,)})
    data = TensorDataset({"a": torch.arange(10.0)[:, None]}, torch.zeros(10, dtype=torch.long), info)
    loader = make_loader(data, 4, shuffle=True, num_workers=1, persistent_workers=True)
    orders = []
    for seed in (5, 6, 5):
        set_loader_seed(loader, seed)
        orders.append(torch.cat([b.index for b in loader]).tolist())
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(5)).tolist()
    assert orders[0] == expected and orders[2] == expected and orders[1] != expected
    assert loader._iterator is not None  # the persistent workers served every epoch
    shards = [torch.cat([b.index for b in make_loader(data, 5, shuffle=True, seed=5, rank=r, world_size=2)])
              for r in (0, 1)]
    assert sorted(torch.cat(shards).tolist()) == list(range(10))
    assert shards[0].tolist() == expected[0::2]


def test_torchrun_local_rank_picks_the_process_gpu(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("cpu") == torch.device("cpu")
    if torch.cuda.device_count() >= 2:
        assert resolve_device("cuda") == torch.device("cuda", 1)


def test_cli_speed_flags_reach_the_config(tmp_path):
    from g2d.cli import build_parser
    from g2d.commands.pipeline import _config

    path = tmp_path / "c.yaml"
    path.write_text("data: {name: synthetic, options: {num_train: 50, num_val: 10, num_test: 10}}\n")
    args = build_parser().parse_args(["train", str(path), "--precision", "bf16", "--channels-last", "--compile"])
    config = _config(args)
    assert (config.precision, config.channels_last, config.compile) == ("bf16", True, True)
    assert _config(build_parser().parse_args(["train", str(path)])).precision == "fp32"

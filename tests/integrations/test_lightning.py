"""SMPCallback in a real lightning.Trainer on the CPU: the schedule is SMP's, suppressed encoders are
bit-for-bit unchanged (weights, momentum) while suppressed, and the errors users meet are named."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

L = pytest.importorskip("lightning", reason="the 'lightning' extra is not installed")

from g2d.integrations.lightning import SMPCallback  # noqa: E402
from g2d.public import SMP  # noqa: E402
from g2d.validation import ConfigError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def load_example():
    path = ROOT / "examples" / "lightning_callback.py"
    spec = importlib.util.spec_from_file_location("example_lightning_callback", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLE = load_example()


class Probe(L.Callback):
    """After SMPCallback: snapshots each encoder's weights and SGD momentum before a step and checks
    them after it; records what the replay needs."""

    def __init__(self, smp_callback: SMPCallback) -> None:
        self.smp_callback, self.steps, self.suppressed_steps = smp_callback, [], 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        opt = trainer.optimizers[0]
        self.before = {m: [(p.detach().clone(), opt.state.get(p, {}).get("momentum_buffer")) for p in e.parameters()]
                       for m, e in pl_module.encoders.items()}
        self.before = {m: [(w, None if b is None else b.clone()) for w, b in v] for m, v in self.before.items()}
        self.learning = self.smp_callback.smp.learning

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        opt = trainer.optimizers[0]
        for m, encoder in pl_module.encoders.items():
            for p, (w, buf) in zip(encoder.parameters(), self.before[m]):
                now = opt.state.get(p, {}).get("momentum_buffer")
                if m in self.learning:
                    assert not torch.equal(p, w), (trainer.current_epoch, batch_idx, m)
                else:  # suppressed: weights and momentum bit for bit, no gradient at all
                    assert torch.equal(p, w) and p.grad is None, (trainer.current_epoch, batch_idx, m)
                    assert (buf is None and now is None) or torch.equal(now, buf)
            self.suppressed_steps += m not in self.learning
        self.steps.append((trainer.current_epoch, self.learning,
                           {m: z.detach().clone() for m, z in outputs["modality_logits"].items()},
                           {m: z.clone() for m, z in outputs["teacher"].logits.items()}, outputs["target"].clone()))


def fit(tmp_path: Path, smp: SMP, *, read_cache: bool = False, **callback_options) -> tuple[SMPCallback, Probe]:
    """The example's Student under ``smp`` for ``smp.epochs`` epochs; ``read_cache``: the callback
    reads the teachers' outputs before each forward (batches are (x_a, x_b, target, index))."""
    torch.manual_seed(0)
    train, data = EXAMPLE.make_data()
    teachers = {"a": EXAMPLE.Teacher(4.0), "b": EXAMPLE.Teacher(1.0)}
    cache = EXAMPLE.TeacherCache.build(tmp_path / "cache", teachers, train)
    if read_cache:
        callback_options |= {"teachers": cache, "index": lambda b: b[3], "target": lambda b: b[2]}
    callback = SMPCallback(smp, **callback_options)
    probe = Probe(callback)
    trainer = L.Trainer(max_epochs=smp.epochs, accelerator="cpu", devices=1, callbacks=[callback, probe],
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    student = EXAMPLE.Student(cache)
    trainer.fit(student, torch.utils.data.DataLoader(data, batch_size=8))
    assert all(p.requires_grad for p in student.parameters())  # every flag restored after fitting
    return callback, probe


def replay(smp: SMP, probe: Probe) -> None:
    """Drive a fresh SMP with what the steps saw: it must choose what the callback applied."""
    epoch = 0
    for step_epoch, learning, logits, teacher, target in probe.steps:
        if step_epoch != epoch:
            smp.end_epoch(epoch)
            epoch = step_epoch
        assert smp.select(step_epoch, teacher=teacher, target=target) == learning
        smp.observe(logits, teacher, target)
    smp.end_epoch(epoch)


@pytest.mark.parametrize("paper", [False, True], ids=["default", "paper"])
def test_callback_applies_smp_exactly_in_a_lightning_trainer(tmp_path, paper):
    def schedule():
        return SMP.paper(("a", "b"), 4, phases=[2]) if paper else SMP(("a", "b"), 4, phases=[2])

    callback, probe = fit(tmp_path, schedule(), read_cache=paper)
    assert probe.suppressed_steps > 0  # a prioritisation phase happened
    assert len({e for e, *_ in probe.steps}) == 4
    twin = schedule()
    replay(twin, probe)
    assert twin.history == callback.smp.history
    resumed = SMPCallback(schedule())  # what a Lightning checkpoint keeps of the callback
    resumed.load_state_dict(callback.state_dict())
    assert resumed.smp.history == callback.smp.history and resumed.smp.used == callback.smp.used


def test_paper_ranking_without_teachers_is_named(tmp_path):
    with pytest.raises(ConfigError, match="ranks each batch by the teachers' confidence before the forward"):
        fit(tmp_path, SMP.paper(("a", "b"), 2, phases=[1]))


def test_missing_encoders_and_outputs_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"Student.towers is not a mapping modality -> encoder"):
        fit(tmp_path, SMP(("a", "b"), 2), encoders="towers")
    with pytest.raises(ConfigError, match=r"encoders\['b'\] = 'nope' is not a submodule"):
        fit(tmp_path, SMP(("a", "b"), 2), encoders={"a": "encoders.a", "b": "nope"})


def test_the_example_runs(tmp_path, capsys):
    EXAMPLE.main(tmp_path, epochs=2)
    assert "epoch 1: SMP prioritised" in capsys.readouterr().out


def test_import_without_lightning_says_what_to_install(monkeypatch):
    for name in ("lightning", "lightning.pytorch", "lightning.pytorch.callbacks", "pytorch_lightning",
                 "pytorch_lightning.callbacks", "g2d.integrations.lightning"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "g2d.integrations.lightning")
    with pytest.raises(ImportError, match=r"pip install 'g2d\[lightning\]'"):
        importlib.import_module("g2d.integrations.lightning")


class EpochProbe(L.Callback):
    """Each encoder's weights at the start of every epoch, compared at its end."""

    def __init__(self) -> None:
        self.unchanged: list[dict[str, bool]] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self.start = {m: [p.detach().clone() for p in e.parameters()] for m, e in pl_module.encoders.items()}

    def on_train_epoch_end(self, trainer, pl_module):
        self.unchanged.append({m: all(torch.equal(p, w) for p, w in zip(e.parameters(), self.start[m]))
                               for m, e in pl_module.encoders.items()})


def test_gradient_accumulation_keeps_a_suppressed_epoch_exact(tmp_path):
    train, data = EXAMPLE.make_data()
    teachers = {"a": EXAMPLE.Teacher(4.0), "b": EXAMPLE.Teacher(1.0)}
    cache = EXAMPLE.TeacherCache.build(tmp_path / "cache", teachers, train)
    callback, probe = SMPCallback(SMP(("a", "b"), 4, phases=[2])), EpochProbe()
    trainer = L.Trainer(max_epochs=4, accelerator="cpu", devices=1, callbacks=[callback, probe], logger=False,
                        accumulate_grad_batches=2, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    torch.manual_seed(0)
    trainer.fit(EXAMPLE.Student(cache), torch.utils.data.DataLoader(data, batch_size=8))
    for row, unchanged in zip(callback.smp.history, probe.unchanged):
        learnt = set(row["prioritised"]) or {"a", "b"}
        assert unchanged == {m: m not in learnt for m in ("a", "b")}, row
    assert any(row["prioritised"] for row in callback.smp.history)

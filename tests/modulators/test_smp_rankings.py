"""SMP's ranking signals (teacher, neglect, fixed) and its adaptive schedule, on hand-built batches."""
import warnings

import pytest
import torch

from g2d.config import ConfigError, parse_config
from g2d.data.base import Batch
from g2d.model import ModelOutput
from g2d.modulators.base import StepState
from g2d.modulators.smp import SMP, SequentialModalityPrioritization
from g2d.objectives import TeacherOutputs

N = 4


def make(phases: list[int], **options) -> SequentialModalityPrioritization:
    """The trainer's SMP modulator over audio and image, 10 epochs (``max_phase`` as the phase unless given)."""
    options.setdefault("schedule", "fixed")
    options.setdefault("max_phase", max(phases))
    return SequentialModalityPrioritization(SMP(("audio", "image"), 10, phases=phases, **options))


def logits_with_probability(p: float) -> torch.Tensor:
    """(N, 3) logits whose softmax gives the true class 0 probability ``p`` on every row."""
    rest = (1 - p) / 2
    return torch.log(torch.tensor([[p, rest, rest]])).repeat(N, 1)


def state_for(epoch: int, student: dict[str, float], teacher: dict[str, float]) -> StepState:
    batch = Batch({m: torch.zeros(N, 2) for m in student}, torch.zeros(N, dtype=torch.long), torch.arange(N))
    out = ModelOutput(torch.zeros(N, 3), {m: logits_with_probability(p) for m, p in student.items()}, {})
    teach = TeacherOutputs({m: logits_with_probability(p) for m, p in teacher.items()}, {})
    return StepState(epoch, 0, tuple(student), "classification", batch, teach,
                     {m: torch.tensor(p) for m, p in teacher.items()}, output=out)


def run_epoch(smp: SequentialModalityPrioritization, epoch: int, student: dict[str, float],
              teacher: dict[str, float], steps: int = 2) -> frozenset[str] | None:
    """The active set of the epoch's steps (all equal), after feeding ``steps`` measured batches."""
    chosen = set()
    for _ in range(steps):
        state = state_for(epoch, student, teacher)
        chosen.add(smp.select_active(state))
        smp.on_after_backward(state)
    smp.on_epoch_end(epoch, {})
    assert len(chosen) == 1
    return chosen.pop()


# the image teacher is the less confident one, but the student has learnt least of the audio teacher
TEACHER = {"audio": 0.8, "image": 0.5}
STUDENT = {"audio": 0.3, "image": 0.5}  # ratios: audio 0.375, image 1.0


def test_neglect_picks_the_lowest_confidence_ratio_not_the_least_confident_teacher():
    paper = make([2], ranking="teacher")
    neglect = make([2], ranking="neglect")
    assert run_epoch(paper, 0, STUDENT, TEACHER) == frozenset({"image"})
    run_epoch(neglect, 0, STUDENT, TEACHER)  # first epoch: nothing measured yet
    assert neglect.smp.measured["audio"]["ratio"] == pytest.approx(0.3 / 0.8)
    assert neglect.smp.measured["image"]["ratio"] == pytest.approx(1.0)
    assert run_epoch(neglect, 1, STUDENT, TEACHER) == frozenset({"audio"})
    assert run_epoch(neglect, 2, STUDENT, TEACHER) is None  # phase of 2 epochs over: joint


def test_neglect_per_batch_uses_the_previous_step():
    smp = make([3], ranking="neglect", rank_every="batch")
    first = state_for(0, STUDENT, TEACHER)
    assert smp.select_active(first) == frozenset({"image"})  # no measurement yet: the batch's teacher ρ
    smp.on_after_backward(first)
    assert smp.select_active(state_for(0, STUDENT, TEACHER)) == frozenset({"audio"})


def test_fixed_order():
    smp = SequentialModalityPrioritization(SMP(("a", "b", "c"), 3, phases=[1, 1], ranking="fixed",
                                               order=["c", "a", "b"], schedule="fixed"))
    conf = {"a": 0.1, "b": 0.2, "c": 0.9}
    assert [run_epoch(smp, e, conf, conf) for e in range(3)] == [frozenset("c"), frozenset("a"), None]


def test_adaptive_prioritises_until_caught_up_then_joint_for_good():
    smp = make([4], ranking="neglect", schedule="adaptive",
                                           margin=0.1)
    assert run_epoch(smp, 0, STUDENT, TEACHER) is None  # the first epoch measures
    assert run_epoch(smp, 1, STUDENT, TEACHER) == frozenset({"audio"})
    caught_up = {"audio": 0.75, "image": 0.5}  # audio ratio 0.9375 >= 0.9
    assert run_epoch(smp, 2, caught_up, TEACHER) == frozenset({"audio"})  # decided from epoch 1's ratio
    assert run_epoch(smp, 3, STUDENT, TEACHER) is None  # epoch 2 measured caught up: finished
    assert run_epoch(smp, 4, STUDENT, TEACHER) is None  # ... and it stays joint
    assert [h["prioritised"] for h in smp.smp.history] == [[], ["audio"], ["audio"], [], []]


def test_adaptive_caps_each_modality_at_max_phase():
    smp = make([5], ranking="neglect", schedule="adaptive",
                                           max_phase=2)
    picks = [run_epoch(smp, e, STUDENT, TEACHER) for e in range(5)]
    assert picks == [None, frozenset({"audio"}), frozenset({"audio"}), None, None]


def test_adaptive_state_round_trips_for_resume():
    a = make([4], ranking="neglect", schedule="adaptive")
    for e in range(2):
        run_epoch(a, e, STUDENT, TEACHER)
    b = make([4], ranking="neglect", schedule="adaptive")
    b.load_state_dict(a.state_dict())
    assert run_epoch(b, 2, STUDENT, TEACHER) == run_epoch(a, 2, STUDENT, TEACHER) == frozenset({"audio"})
    assert b.smp.used == a.smp.used == {"audio": 2, "image": 0}


def config(method_options: dict, epochs: int = 10) -> dict:
    return {"method": {"name": "g2d", "options": method_options}, "student": {"epochs": epochs}}


def test_default_phases_rounding_to_zero_warn_with_the_epochs_needed():
    with pytest.warns(UserWarning, match=r"student.epochs >= 2"):
        parse_config(config({}, epochs=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_config(config({}, epochs=2))


@pytest.mark.parametrize("options, words", [
    ({"phases": [0]}, "every τ must be >= 1 epoch"),
    ({"ranking": "fixed"}, "needs 'order'"),
    ({"ranking": "fixed", "order": ["m0", "nope"]}, "expected each of the modalities"),
    ({"schedule": "adaptive", "rank_every": "batch"}, "rank_every must be 'epoch'"),
    ({"ranking": "sideways"}, "ranking"),
])
def test_bad_smp_options_are_named(options, words):
    with pytest.raises(ConfigError, match=words):
        parse_config(config(options))

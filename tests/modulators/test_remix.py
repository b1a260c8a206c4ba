"""Data Remixing: each sample goes to the modality whose prediction is closest to uniform, and a
step in the remix phase is one single-modality sub-step per modality, the others' features zeroed."""
from __future__ import annotations

import math

import pytest
import torch

from g2d.modulators.remix import DataRemixing, assign_modalities, divergence_from_uniform
from g2d.validation import ConfigError
from tests.methods.tiny import tiny


def remixer(built) -> DataRemixing:
    return next(m for m in built.method.modulators if isinstance(m, DataRemixing))


def force(built, epoch: int, assigned: dict[int, int]) -> None:
    """Fix the assignment for ``epoch`` (sample index -> modality index; others to modality 0)."""
    mod = remixer(built)
    mod.assignment = torch.zeros(len(built.splits.train), dtype=torch.long)
    for i, j in assigned.items():
        mod.assignment[i] = j
    mod.assigned_epoch = epoch


def test_divergence_from_uniform_is_zero_for_uniform_and_log_c_for_one_hot() -> None:
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]])
    kl = divergence_from_uniform(logits)
    assert kl[0] == pytest.approx(0.0, abs=1e-6) and kl[1] == pytest.approx(math.log(4), abs=1e-4)


def test_each_sample_goes_to_the_modality_closest_to_uniform() -> None:
    confident = torch.tensor([[5.0, 0, 0], [0.1, 0, 0], [4.0, 0, 0]])
    unsure = torch.tensor([[0.2, 0, 0], [3.0, 0, 0], [0.0, 4.0, 0]])  # sample 2: both equally confident
    assigned = assign_modalities({"a": confident, "b": unsure})
    assert assigned.tolist() == [1, 0, 0]  # a tie goes to the first modality


def test_before_the_warm_up_ends_a_step_is_one_joint_step() -> None:
    built = tiny("remix", {"warmup": 0.5}, epochs=4)
    before = built.snapshot()
    state, terms = built.step(epoch=1)
    assert state.active is None and remixer(built).assignment is None
    after = built.snapshot()
    for m in ("strong", "weak"):
        assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(f"encoders.{m}."))
    assert set(terms) == {"task", "unimodal"}


def test_a_sample_trains_only_its_assigned_encoder_and_sees_the_other_features_zeroed() -> None:
    built = tiny("joint", modulators=[{"name": "remix", "options": {}}], epochs=6)
    force(built, 3, {i: 1 for i in range(64)})  # every training sample assigned to "weak"
    before = built.snapshot()
    state, _ = built.step(epoch=3)
    after = built.snapshot()
    strong = [k for k in before if k.startswith("encoders.strong.")]
    assert all(torch.equal(before[k], after[k]) for k in strong)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("encoders.weak."))
    assert state.active == frozenset({"weak"})
    assert torch.count_nonzero(state.output.features["strong"]) == 0  # zeroed inside the sub-step
    assert torch.count_nonzero(state.output.features["weak"]) > 0
    # the zeroing lives only inside a sub-step: the model's own forward sees the real features
    with torch.no_grad():
        out = built.model(state.batch.inputs)
    assert torch.count_nonzero(out.features["strong"]) > 0


def test_a_mixed_batch_becomes_one_sub_step_per_modality_in_the_batch_order() -> None:
    built = tiny("joint", modulators=[{"name": "remix", "options": {}}], epochs=6)
    force(built, 3, {i: i % 2 for i in range(64)})  # even samples -> strong, odd -> weak
    parts = built.method.split_batch(built.state(epoch=3))
    assert [p.focus for p in parts] == ["strong", "weak"] and [len(p.batch) for p in parts] == [8, 8]
    assert all(int(i) % 2 == 0 for i in parts[0].batch.index)
    state, terms = built.step(epoch=3)
    assert state.active == frozenset({"strong", "weak"})
    odd = state.batch.index % 2 == 1
    # each row holds its own sub-step's output: a weak-assigned row saw strong's features zeroed
    assert torch.count_nonzero(state.output.features["strong"][odd]) == 0
    assert torch.count_nonzero(state.output.features["strong"][~odd]) > 0
    assert torch.count_nonzero(state.output.features["weak"][~odd]) == 0
    assert set(terms) == {"task"} and math.isfinite(float(terms["task"]))


def test_the_reassignment_pass_matches_the_rule_on_the_model_outputs() -> None:
    built = tiny("remix", epochs=6)
    data = built.splits.train.get_batch(list(range(len(built.splits.train))))
    built.model.eval()
    with torch.no_grad():  # the model the pass will see (before this step's updates)
        out = built.model(data.inputs)
    built.model.train()
    expected = assign_modalities({m: out.modality_logits[m] for m in ("strong", "weak")})
    built.step(epoch=1)  # warm-up ends at round(6/6) = 1: this epoch reassigns first
    mod = remixer(built)
    assert mod.assigned_epoch == 1 and sum(mod.counts.values()) == len(built.splits.train)
    assert torch.equal(mod.assignment, expected)
    assert built.method.epoch_summary()["remix"] == {"assigned": mod.counts, "left_out": 0}


def test_g2d_plus_remix_steps_with_the_teachers_of_each_sub_batch() -> None:
    built = tiny("g2d", modulators=[{"name": "remix", "options": {}}], epochs=6)
    force(built, 4, {i: i % 2 for i in range(64)})
    state, terms = built.step(epoch=4)
    assert {"task", "feat", "own"} <= set(terms) and all(math.isfinite(float(v)) for v in terms.values())


def test_remix_refuses_a_method_with_its_own_step() -> None:
    with pytest.raises(ConfigError, match="remix.*needs the default training step"):
        tiny("mla", modulators=[{"name": "remix", "options": {}}], fusion="shared")


def test_remix_refuses_regression() -> None:
    from tests.conftest import tiny_config

    with pytest.raises(Exception, match="classification"):
        tiny_config(data__options={"num_train": 64, "num_val": 16, "num_test": 16, "dim": 8, "task_type": "regression"},
                    method={"name": "remix", "options": {}})


def test_a_short_run_still_warms_up_for_one_epoch() -> None:
    # 1/6 of 3 epochs rounds to 0: the assignment of an untrained model would starve the strong modality
    built = tiny("remix", epochs=3)
    assert remixer(built).start_epoch == 1
    assert built.method.split_batch(built.state(epoch=0)) is None
    assert tiny("remix", {"warmup": 0.0}, epochs=3).method.modulators[0].start_epoch == 0


def test_a_one_sample_sub_batch_is_left_out_and_the_step_describes_the_rest() -> None:
    built = tiny("g2d", modulators=[{"name": "remix", "options": {}}], epochs=6)
    lone = 5
    force(built, 3, {lone: 1})  # one sample of the batch to "weak", the other 15 to "strong"
    sizes = []  # every batch an encoder saw in training mode (batch norm cannot train on one sample)
    for encoder in built.model.encoders.values():
        encoder.register_forward_pre_hook(lambda module, args: sizes.append(len(args[0])) if module.training else None)
    before = built.snapshot()
    state, terms = built.step(epoch=3)
    after = built.snapshot()
    assert sizes and 1 not in sizes
    assert state.active == frozenset({"strong"})  # weak's one sample did not step
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoders.weak."))
    assert len(state.batch) == 15 and lone not in state.batch.index.tolist()
    assert state.output.logits.shape[0] == 15 and state.teacher_rho.shape[1] == 15
    assert all(math.isfinite(float(v)) for v in terms.values())
    assert remixer(built).left_out == 1  # logged per epoch as modulators.remix.left_out


def test_lone_samples_still_step_when_no_larger_sub_batch_is_left() -> None:
    built = tiny("joint", modulators=[{"name": "remix", "options": {}}], epochs=6)
    force(built, 3, {1: 1})  # a batch of two samples: 0 -> strong, 1 -> weak
    state = built.state(epoch=3, batch=built.batch(size=2))
    parts = built.method.split_batch(state)
    assert [len(p.batch) for p in parts] == [1, 1] and len(state.batch) == 2
    assert remixer(built).left_out == 0

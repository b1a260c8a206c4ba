import torch

from g2d.data.base import Batch
from g2d.modulators.base import StepState
from g2d.modulators.modality_dropout import ModalityDropout


def make_state(n=400):
    inputs = {"a": torch.ones(n, 3), "b": torch.ones(n, 2, 2), "c": torch.ones(n, 4)}
    return StepState(0, 0, ("a", "b", "c"), "classification",
                     Batch(inputs, torch.zeros(n, dtype=torch.long), torch.arange(n)))


def test_dropout_zeroes_the_requested_share_and_keeps_one_modality_per_sample():
    torch.manual_seed(0)
    state = make_state()
    ModalityDropout(0.3, ("a", "b", "c")).on_before_forward(state)
    present = torch.stack([state.batch.inputs[m].flatten(1).amax(1) > 0 for m in ("a", "b", "c")], 1)
    assert present.any(1).all()  # at least one modality per sample
    # a whole input is either kept or zeroed, never partly
    for m in ("a", "b", "c"):
        flat = state.batch.inputs[m].flatten(1)
        assert ((flat == 1).all(1) | (flat == 0).all(1)).all()
    assert abs((1 - present.float().mean()).item() - 0.3) < 0.01


def test_zero_rate_changes_nothing_and_the_original_batch_is_untouched():
    state = make_state(10)
    original = state.batch
    ModalityDropout(0.0, ("a", "b", "c")).on_before_forward(state)
    assert all(torch.equal(state.batch.inputs[m], original.inputs[m]) for m in "abc")
    ModalityDropout(0.5, ("a", "b", "c")).on_before_forward(state)
    assert all(bool((original.inputs[m] == 1).all()) for m in "abc")


def test_composes_with_a_method_through_the_config(tmp_path):
    from g2d.api import MethodSpec, run_methods

    from conftest import tiny_config

    summary = run_methods(tiny_config(method__name="joint", method__options={}), tmp_path,
                          [MethodSpec.parse("joint+modality-dropout")], progress=False)
    # 4 classes (chance 0.25): it still learns the strong modality (0.72 on one CPU); a margin any CPU clears
    assert summary["methods"]["joint+modality-dropout"]["test"]["accuracy"] >= 0.45

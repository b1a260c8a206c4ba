"""Non-finite guards: the first bad step is named, the weights are checked, a clean epoch passes."""
import pytest
import torch

from g2d.guards import FiniteGuard, NonFiniteError, nonfinite_parameters


def test_first_nonfinite_step_and_term_are_named():
    guard = FiniteGuard("student g2d", torch.device("cpu"))
    for step in range(20, 30):
        bad = float("inf") if step == 26 else 1.0
        guard.observe({"task": torch.tensor(1.0), "kd": torch.tensor(bad)}, step)
    with pytest.raises(NonFiniteError, match=r"student g2d: the training loss became NaN or Inf at epoch 4, "
                                             r"step 26 \(step 6 of the epoch; loss term 'kd'\)"):
        guard.check(torch.nn.Linear(2, 2), epoch=4)


def test_clean_epoch_passes_and_the_guard_resets():
    guard = FiniteGuard("teacher a", torch.device("cpu"))
    guard.observe({"task": torch.tensor(float("nan"))}, 0)
    with pytest.raises(NonFiniteError):
        guard.check(torch.nn.Linear(2, 2), 0)
    guard.observe({"task": torch.tensor(0.5), "vec": torch.ones(3)}, 1)
    guard.check(torch.nn.Linear(2, 2), 1)  # nothing left over from the bad epoch


def test_nonfinite_weights_are_named_even_when_the_loss_is_not_checked():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    with torch.no_grad():
        model[0].bias[1] = float("nan")
    assert nonfinite_parameters(model) == ["0.bias"]
    guard = FiniteGuard("teacher a", torch.device("cpu"), check_loss=False)
    guard.observe({"task": torch.tensor(float("nan"))}, 0)  # fp16 loss scaling: a skipped step is fine
    with pytest.raises(NonFiniteError, match=r"the weights became NaN or Inf during epoch 2 \(0.bias\)"):
        guard.check(model, 2)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nonfinite_weights_read_back_are_refused_naming_the_file(tmp_path, value):
    from safetensors.torch import save_file

    from g2d import io

    model = torch.nn.Linear(3, 2)
    tensors = {k: v.detach().clone() for k, v in model.state_dict().items()}
    tensors["weight"][0, 1] = value
    save_file(tensors, str(tmp_path / "w.safetensors"))  # written behind g2d's back (io.save_weights refuses)
    with pytest.raises(io.CheckpointError, match=r"w\.safetensors: the weights \['weight'\] hold NaN or Inf"):
        io.load_weights(tmp_path / "w.safetensors", torch.nn.Linear(3, 2))

"""Every registered encoder: forward, backward and one optimiser step, on tiny inputs.

Driven by the registry: an encoder registered without an entry in ``EXAMPLES`` fails
``test_every_encoder_has_an_example``, so a new encoder cannot go untested.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from g2d.catalog import ENCODERS
from g2d.encoders import build_encoder
from g2d.validation import DataError

# name -> list of (per-sample input shape, small options)
EXAMPLES: dict[str, list[tuple[tuple[int, ...], dict]]] = {
    "mlp": [((8,), {"hidden": [16], "out_dim": 8}), ((3, 4), {"hidden": [], "out_dim": 4})],
    "resnet18": [((1, 28, 28), {"width": 0.125}), ((3, 32, 32), {"width": 0.125}),
                 ((3, 3, 16, 16), {"width": 0.125})],
    "mobilenetv2": [((3, 16, 16), {"width": 0.25, "out_dim": 32}), ((1, 28, 28), {"width": 0.125})],
    "transformer": [((6, 5), {"layers": 1, "heads": 2, "width": 16}),
                    ((6, 5), {"layers": 2, "heads": 2, "width": 16, "pooling": "first"})],
}
CASES = [(name, shape, opts) for name in ENCODERS.names() for shape, opts in EXAMPLES.get(name, [])]


def test_every_encoder_has_an_example() -> None:
    missing = [n for n in ENCODERS.names() if not EXAMPLES.get(n)]
    assert not missing, f"add tiny examples for encoders {missing} to EXAMPLES"


@pytest.mark.parametrize("name,shape,options", CASES, ids=[f"{n}-{'x'.join(map(str, s))}" for n, s, _ in CASES])
def test_forward_backward_step(name: str, shape: tuple[int, ...], options: dict) -> None:
    torch.manual_seed(0)
    encoder = build_encoder(name, options, shape)
    x = torch.randn(3, *shape)
    extra = {"mask": torch.tensor([[True] * shape[0]] * 2 + [[True] * 2 + [False] * (shape[0] - 2)])} \
        if getattr(encoder, "uses_mask", False) else {}
    out = encoder(x, **extra)
    assert out.shape == (3, encoder.out_dim)
    assert torch.isfinite(out).all()
    before = [p.detach().clone() for p in encoder.parameters()]
    opt = torch.optim.SGD(encoder.parameters(), lr=0.1)
    out.pow(2).mean().backward()
    no_grad = [n for n, p in encoder.named_parameters() if p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad}"
    opt.step()
    changed = sum(not torch.equal(b, p) for b, p in zip(before, encoder.parameters()))
    assert changed == len(before)


@pytest.mark.parametrize("name", ENCODERS.names())
def test_wrong_batch_shape_names_encoder_and_shapes(name: str) -> None:
    shape, options = EXAMPLES[name][0]
    encoder = build_encoder(name, options, shape)
    bad = torch.randn(2, *shape[:-1], shape[-1] + 1) if len(shape) > 1 else torch.randn(2, shape[0] + 1)
    if name in ("resnet18", "mobilenetv2"):
        bad = torch.randn(2, shape[0] + 1, *shape[1:])  # wrong channel count
    with pytest.raises(DataError, match=rf"encoder '{name}'.*got .*{bad.shape[0]}, {bad.shape[1]}"):
        encoder(bad)


@pytest.mark.parametrize("name,shape", [("resnet18", (20, 8)), ("resnet18", (8,)), ("mobilenetv2", (4, 3, 8, 8)),
                                        ("transformer", (3, 8, 8)), ("transformer", (8,))])
def test_wrong_input_rank_fails_at_build(name: str, shape: tuple[int, ...]) -> None:
    with pytest.raises(DataError, match=rf"encoder '{name}' expects .*got shape {tuple(shape)}".replace("(", r"\(")
                       .replace(")", r"\)")):
        build_encoder(name, EXAMPLES[name][0][1], shape)


@pytest.mark.parametrize("name", ENCODERS.names())
def test_initialisation_follows_the_spec(name: str) -> None:
    """Norm layers weight 1 / bias 0; conv Kaiming-normal (fan_out); linear biases 0."""
    torch.manual_seed(0)
    shape, options = EXAMPLES[name][0]
    encoder = build_encoder(name, options, shape)
    norms = [m for m in encoder.modules() if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm, nn.BatchNorm1d))]
    for m in norms:
        assert torch.equal(m.weight, torch.ones_like(m.weight)) and torch.equal(m.bias, torch.zeros_like(m.bias))
    for m in encoder.modules():
        if isinstance(m, nn.Linear) and m.bias is not None:
            assert torch.equal(m.bias, torch.zeros_like(m.bias))
    convs = [m for m in encoder.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]
    if sum(m.weight.numel() for m in convs) > 2000:
        # each conv weight divided by its Kaiming std sqrt(2 / fan_out) is standard normal
        fan_out = lambda w: w.shape[0] * w[0, 0].numel()  # noqa: E731
        z = torch.cat([m.weight.flatten() / (2.0 / fan_out(m.weight)) ** 0.5 for m in convs])
        assert abs(z.std().item() - 1.0) < 0.1
        assert abs(z.mean().item()) < 0.1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name,shape,options", CASES, ids=[f"{n}-{'x'.join(map(str, s))}" for n, s, _ in CASES])
def test_encoders_run_on_the_input_device(name: str, shape: tuple[int, ...], options: dict) -> None:
    encoder = build_encoder(name, options, shape).cuda()
    x = torch.randn(3, *shape, device="cuda")
    extra = {"mask": torch.ones(3, shape[0], dtype=torch.bool, device="cuda")} \
        if getattr(encoder, "uses_mask", False) else {}
    out = encoder(x, **extra)
    assert out.is_cuda and out.shape == (3, encoder.out_dim)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.is_cuda for p in encoder.parameters())

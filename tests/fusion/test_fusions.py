"""Every registered fusion × M ∈ {2, 3, 4}: forward, backward, one optimiser step, and ``z_s^m``.

Driven by the registry: a new fusion runs through these tests without being named here.
"""
from __future__ import annotations

import pytest
import torch

from g2d.catalog import FUSIONS
from g2d.fusion import build_fusion
from g2d.fusion.base import InteractingFusion

DIMS = (6, 5, 7, 4)
SMALL = {"film": {"hidden": 8}, "gated": {"hidden": 8}, "cross-attention": {"width": 8, "heads": 2, "tokens": 3}}
CASES = [(name, m) for name in FUSIONS.names() for m in (2, 3, 4)]


def make(name: str, num_modalities: int, classes: int = 3, **options):
    torch.manual_seed(0)
    dims = {f"m{i}": DIMS[i] for i in range(num_modalities)}
    fusion = build_fusion(name, {**SMALL.get(name, {}), **options}, dims, classes)
    features = {m: torch.randn(5, d) for m, d in dims.items()}
    return fusion, features


@pytest.mark.parametrize("name,num_modalities", CASES)
def test_forward_backward_step(name: str, num_modalities: int) -> None:
    fusion, features = make(name, num_modalities)
    features = {m: f.requires_grad_() for m, f in features.items()}
    out = fusion(features)
    assert out.logits.shape == (5, 3)
    assert list(out.modality_logits) == list(features)
    assert all(z.shape == (5, 3) for z in out.modality_logits.values())
    before = [p.detach().clone() for p in fusion.parameters()]
    opt = torch.optim.SGD(fusion.parameters(), lr=0.1)
    torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 1, 2, 0, 1])).backward()
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in features.values()), \
        "every modality's features must reach the fused logits"
    assert all(p.grad is not None for p in fusion.parameters())
    opt.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, fusion.parameters()))


@pytest.mark.parametrize("name,num_modalities", CASES)
def test_modality_output_depends_on_its_own_features_only(name: str, num_modalities: int) -> None:
    fusion, features = make(name, num_modalities)
    out = fusion(features).modality_logits
    for m in features:
        changed = {n: (f if n == m else f + torch.randn_like(f)) for n, f in features.items()}
        again = fusion(changed).modality_logits
        torch.testing.assert_close(again[m], out[m])
        others = [n for n in features if n != m]
        assert not torch.allclose(again[others[0]], out[others[0]])


@pytest.mark.parametrize("name", [n for n in FUSIONS.names()
                                  if isinstance(make(n, 2)[0], InteractingFusion)])
@pytest.mark.parametrize("num_modalities", [2, 3])
def test_interacting_fusions_define_zs_m_as_others_zeroed(name: str, num_modalities: int) -> None:
    fusion, features = make(name, num_modalities)
    out = fusion(features)
    torch.testing.assert_close(out.logits, fusion.fuse(features))
    for m in features:
        alone = {n: f if n == m else torch.zeros_like(f) for n, f in features.items()}
        torch.testing.assert_close(out.modality_logits[m], fusion.fuse(alone))
        torch.testing.assert_close(out.modality_logits[m], fusion(alone).logits)


def test_late_is_the_mean_and_sum_the_sum_of_per_modality_logits() -> None:
    for name, reduce in (("late", torch.mean), ("sum", torch.sum)):
        fusion, features = make(name, 3)
        out = fusion(features)
        per = torch.stack(list(out.modality_logits.values()))
        torch.testing.assert_close(out.logits, reduce(per, 0))
        torch.testing.assert_close(out.modality_logits["m1"], fusion.heads["m1"](features["m1"]))


def test_concat_modality_outputs_sum_to_fused_minus_bias() -> None:
    fusion, features = make("concat", 3)
    out = fusion(features)
    torch.testing.assert_close(sum(out.modality_logits.values()), out.logits - fusion.head.bias)
    # m1's slice of the weight: columns 6..10
    torch.testing.assert_close(out.modality_logits["m1"], features["m1"] @ fusion.head.weight[:, 6:11].T)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", FUSIONS.names())
def test_fusions_run_on_the_input_device(name: str) -> None:
    fusion, features = make(name, 3)
    fusion = fusion.cuda()
    out = fusion({m: f.cuda().requires_grad_() for m, f in features.items()})
    assert out.logits.device.type == "cuda" and all(z.is_cuda for z in out.modality_logits.values())
    out.logits.sum().backward()
    assert all(p.grad is not None and p.grad.is_cuda for p in fusion.parameters())

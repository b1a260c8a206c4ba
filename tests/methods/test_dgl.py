"""DGL: the encoders learn only from the unimodal losses, the fusion head only from the fused loss on
detached features — checked gradient by gradient against autograd on a copy of the model."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from tests.methods.tiny import tiny


@pytest.mark.parametrize("fusion", ["concat", "film"])
def test_encoders_get_only_unimodal_gradients_and_the_head_only_the_fused_one(fusion: str) -> None:
    built = tiny("dgl", {"alpha": 3.0}, fusion=fusion, lr=1.0, momentum=0.0, weight_decay=0.0)
    reference = copy.deepcopy(built.model)
    batch = built.batch()
    target = batch.target.long()
    features = reference.encode(batch.inputs)
    unimodal = reference.fusion(features).modality_logits
    fused = reference.fusion({m: f.detach() for m, f in features.items()}).logits
    encoder_params = [p for m in reference.modalities for p in reference.encoders[m].parameters()]
    head_params = list(reference.fusion.parameters())
    enc_grads = torch.autograd.grad(3.0 * sum(F.cross_entropy(z, target) for z in unimodal.values()),
                                    encoder_params, allow_unused=True)
    head_grads = torch.autograd.grad(F.cross_entropy(fused, target), head_params, allow_unused=True)

    _, terms = built.step(batch=batch)
    assert set(terms) == {"unimodal_strong", "unimodal_weak", "task"}
    names = dict(zip([id(p) for p in reference.parameters()], [n for n, _ in reference.named_parameters()]))
    live = dict(built.model.named_parameters())
    for params, grads in ((encoder_params, enc_grads), (head_params, head_grads)):
        for p, g in zip(params, grads):
            name = names[id(p)]
            step = live[name].detach() - dict(reference.named_parameters())[name].detach()
            expected = -g if g is not None else torch.zeros_like(step)
            assert torch.allclose(step, expected, atol=1e-5), name  # SGD, lr 1: Δθ = −∇


def test_the_fused_loss_alone_would_not_move_an_encoder() -> None:
    """α → tiny: the encoders barely move while the head still learns (no multimodal gradient reaches them)."""
    built = tiny("dgl", {"alpha": 1e-9}, momentum=0.0, weight_decay=0.0)
    before = built.snapshot()
    built.step()
    after = built.snapshot()
    enc = max(float((after[k] - before[k]).abs().max()) for k in before if k.startswith("encoders."))
    head = max(float((after[k] - before[k]).abs().max()) for k in before if k.startswith("fusion."))
    assert enc < 1e-8 < head

"""FiLM, gated and cross-attention on hand-checkable cases, and their refusals at config load."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import tiny_config
from g2d.fusion import build_fusion
from g2d.fusion.base import InteractingOptions
from g2d.registry import ExperimentContext
from g2d.validation import ConfigError


def _set(linear: torch.nn.Linear, weight: list, bias: list) -> None:
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight, dtype=torch.float))
        linear.bias.copy_(torch.tensor(bias, dtype=torch.float))


def test_film_two_modalities_by_hand() -> None:
    film = build_fusion("film", {"hidden": 2}, {"a": 1, "b": 1}, 3)
    assert film.conditioned == "b" and film.conditioners == ("a",)  # the first conditions the last
    _set(film.project, [[1], [2]], [0, 1])                      # h0 = (x_b, 2 x_b + 1)
    _set(film.film["a"], [[1], [0], [0], [1]], [0, 0, 0, 0])     # γ = (x_a, 0), β = (0, x_a)
    _set(film.out, [[1, 0], [0, 1], [1, 1]], [0, 0, 0])
    out = film({"a": torch.tensor([[2.0]]), "b": torch.tensor([[3.0]])})
    # h = (1 + γ) ⊙ h0 + β = ((1 + 2)·3, 7 + 2) = (9, 9)
    torch.testing.assert_close(out.logits, torch.tensor([[9.0, 9.0, 18.0]]))
    torch.testing.assert_close(out.modality_logits["b"], torch.tensor([[3.0, 7.0, 10.0]]))  # x_a = 0
    torch.testing.assert_close(out.modality_logits["a"], torch.tensor([[0.0, 3.0, 3.0]]))   # x_b = 0: h0 = (0, 1)


def test_film_chain_for_three_modalities() -> None:
    torch.manual_seed(0)
    film = build_fusion("film", {"hidden": 4, "conditioned": "a"}, {"a": 3, "b": 2, "c": 5}, 2)
    assert film.conditioners == ("b", "c")
    f = {"a": torch.randn(4, 3), "b": torch.randn(4, 2), "c": torch.randn(4, 5)}
    h = film.project(f["a"])
    for m in ("b", "c"):
        gamma, beta = film.film[m](f[m])[:, :4], film.film[m](f[m])[:, 4:]
        h = (1 + gamma) * h + beta
    torch.testing.assert_close(film(f).logits, film.out(h))


def test_gated_two_modalities_by_hand() -> None:
    gated = build_fusion("gated", {"hidden": 1}, {"a": 1, "b": 1}, 1)
    for m in "ab":
        _set(gated.project[m], [[1]], [0])
    _set(gated.out, [[1]], [0])
    out = gated({"a": torch.tensor([[2.0]]), "b": torch.tensor([[-1.0]])})
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    torch.testing.assert_close(out.logits, torch.tensor([[sig(-1) * 2 + sig(2) * -1]]))  # σ(h_b) h_a + σ(h_a) h_b
    torch.testing.assert_close(out.modality_logits["a"], torch.tensor([[0.5 * 2]]))       # h_b = 0, σ(0) = 1/2
    torch.testing.assert_close(out.modality_logits["b"], torch.tensor([[0.5 * -1]]))


@pytest.mark.parametrize("gate", [None, "b"])
def test_gated_three_modalities(gate: str | None) -> None:
    torch.manual_seed(0)
    dims = {"a": 3, "b": 2, "c": 4}
    gated = build_fusion("gated", {"hidden": 5, "gate": gate}, dims, 2)
    f = {m: torch.randn(6, d) for m, d in dims.items()}
    h = {m: gated.project[m](f[m]) for m in dims}
    g = {m: torch.sigmoid(v) for m, v in h.items()}
    if gate is None:  # every modality is scaled by the mean gate of the two others
        u = (g["b"] + g["c"]) / 2 * h["a"] + (g["a"] + g["c"]) / 2 * h["b"] + (g["a"] + g["b"]) / 2 * h["c"]
    else:
        u = g["b"] * (h["a"] + h["c"])
    torch.testing.assert_close(gated(f).logits, gated.out(u))


def test_cross_attention_single_token_is_value_projection_of_the_other() -> None:
    """With one token per modality the softmax has one key: a_m = W_o (W_v x_n + b_v) + b_o."""
    torch.manual_seed(0)
    fusion = build_fusion("cross-attention", {"width": 4, "heads": 2, "tokens": 1}, {"a": 3, "b": 2}, 2)
    f = {"a": torch.randn(5, 3), "b": torch.randn(5, 2)}
    x = {m: fusion.tokenise[m](f[m]) for m in f}
    refined = []
    for m, n in (("a", "b"), ("b", "a")):
        attn = fusion.attend[m]
        wv, bv = attn.in_proj_weight[8:], attn.in_proj_bias[8:]
        a = attn.out_proj(x[n] @ wv.T + bv)
        refined.append(fusion.norm[m](x[m] + a))
    torch.testing.assert_close(fusion(f).logits, fusion.out(torch.cat(refined, -1)))


def test_cross_attention_is_all_directional_for_three_modalities() -> None:
    torch.manual_seed(0)
    dims = {"a": 3, "b": 2, "c": 4}
    fusion = build_fusion("cross-attention", {"width": 4, "heads": 1, "tokens": 2}, dims, 2)
    f = {m: torch.randn(5, d) for m, d in dims.items()}
    x = {m: fusion.tokenise[m](f[m]).reshape(5, 2, 4) for m in dims}
    refined = []
    for m in dims:
        ctx = torch.cat([x[n] for n in dims if n != m], 1)  # (B, 4 keys, d)
        w, b = fusion.attend[m].in_proj_weight, fusion.attend[m].in_proj_bias
        q, k, v = (t @ w[i * 4:(i + 1) * 4].T + b[i * 4:(i + 1) * 4] for i, t in enumerate((x[m], ctx, ctx)))
        att = F.softmax(q @ k.transpose(1, 2) / 2.0, dim=-1) @ v  # sqrt(d) = 2
        refined.append(fusion.norm[m](x[m] + fusion.attend[m].out_proj(att)).mean(1))
    torch.testing.assert_close(fusion(f).logits, fusion.out(torch.cat(refined, -1)))


@pytest.mark.parametrize("fusion,message", [
    ({"name": "film", "options": {"conditioned": "audio"}},
     r"model.fusion.options: conditioned: unknown modality 'audio'; expected one of \['strong', 'weak'\]"),
    ({"name": "gated", "options": {"gate": "video"}}, r"model.fusion.options: gate: unknown modality 'video'"),
    ({"name": "cross-attention", "options": {"width": 10, "heads": 4}}, r"width: must be divisible by heads=4"),
])
def test_bad_options_are_refused_at_config_load(fusion: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tiny_config(model__fusion=fusion)


def test_interacting_fusions_refuse_a_single_modality() -> None:
    with pytest.raises(ValueError, match=r"fusion needs at least 2 modalities, the data set has \['audio'\]"):
        InteractingOptions().check_against(ExperimentContext(("audio",), "classification", 3))
    with pytest.raises(ValueError, match="needs at least 2 modalities"):
        build_fusion("gated", {}, {"audio": 4}, 2)

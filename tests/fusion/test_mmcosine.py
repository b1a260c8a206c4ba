"""MMCosine: each modality's logits are s · cos(f_m, W_{m,c}), bounded by s and blind to the
feature norm (so a modality cannot dominate by growing its features); fused = their sum."""
from __future__ import annotations

import pytest
import torch

from g2d.fusion import build_fusion
from g2d.validation import ConfigError
from tests.conftest import tiny_config


def test_logits_are_scaled_cosines_summed_over_modalities() -> None:
    torch.manual_seed(0)
    fusion = build_fusion("mmcosine", {"scale": 5.0}, {"a": 3, "b": 4, "c": 2}, 2)
    features = {"a": torch.tensor([[3.0, 0.0, 4.0]]), "b": torch.randn(1, 4), "c": torch.randn(1, 2)}
    out = fusion(features)
    w = fusion.weights["a"]
    expected_a = 5.0 * torch.stack([torch.dot(torch.tensor([0.6, 0.0, 0.8]), w[c] / w[c].norm()) for c in range(2)])
    torch.testing.assert_close(out.modality_logits["a"][0], expected_a)
    torch.testing.assert_close(out.logits, sum(out.modality_logits.values()))
    louder = fusion({**features, "b": 100.0 * features["b"]})  # a modality's feature norm changes nothing
    torch.testing.assert_close(louder.logits, out.logits)
    big = fusion({m: 1e3 * torch.randn(64, f.shape[1]) for m, f in features.items()})
    assert big.logits.abs().max() <= 3 * 5.0 + 1e-4 and all(z.abs().max() <= 5.0 + 1e-5
                                                             for z in big.modality_logits.values())


def test_regression_is_refused_at_config_load() -> None:
    with pytest.raises(ConfigError, match="model.fusion.options: mmcosine is a classification head"):
        tiny_config(data__options={"task_type": "regression", "num_train": 64, "num_val": 16, "num_test": 16},
                    model__fusion={"name": "mmcosine"})

"""Each fusion answers "your per-modality logits" itself: ``modality_path`` is ``z_s^m`` of ``f_s^m`` alone."""
from __future__ import annotations

import pytest
import torch

from g2d.catalog import FUSIONS
from g2d.fusion.base import build_fusion


@pytest.mark.parametrize("name", FUSIONS.names())
def test_modality_path_is_the_fusion_with_the_other_features_zeroed(name):
    torch.manual_seed(0)
    fusion = build_fusion(name, None, {"a": 4, "b": 4}, 3).eval()
    feature = torch.randn(5, 4)
    zeroed = fusion({"a": feature, "b": torch.zeros(5, 4)}).modality_logits["a"]
    torch.testing.assert_close(fusion.modality_path("a", feature), zeroed)
    assert (fusion.shared_classifier is not None) == (name == "shared")


def test_the_shared_head_skips_the_other_modalities_and_names_its_classifier():
    fusion = build_fusion("shared", None, {"a": 4, "b": 6}, 3)
    feature = torch.randn(5, 4)
    assert torch.equal(fusion.modality_path("a", feature), fusion.classifier(fusion.adapters["a"](feature)))
    assert fusion.shared_classifier is fusion.classifier

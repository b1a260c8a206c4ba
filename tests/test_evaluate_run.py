"""`evaluate_run` re-scores saved students exactly as the trainer did, method test-time fusion included."""
from g2d.api import MethodSpec, evaluate_run, run_methods

from conftest import tiny_config


def test_reevaluation_matches_training_for_methods_with_their_own_test_time_fusion(tmp_path):
    config = tiny_config(model__fusion={"name": "shared"}, method__name="joint", method__options={})
    trained = run_methods(config, tmp_path, [MethodSpec.parse("mla"), MethodSpec.parse("joint")], progress=False)
    again = evaluate_run(tmp_path)
    for method in ("mla", "joint"):
        assert again["methods"][method]["test"] == trained["methods"][method]["test"]

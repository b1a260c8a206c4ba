"""`g2d methods | fusions | encoders | datasets | modulators [NAME]`: read from the registered options."""
from __future__ import annotations

import pytest

from g2d.catalog import DATASETS, ENCODERS, FUSIONS, METHODS, MODULATORS
from g2d.cli import main
from g2d.describe import options_of


@pytest.mark.parametrize("command, registry", [("methods", METHODS), ("fusions", FUSIONS), ("encoders", ENCODERS),
                                               ("datasets", DATASETS), ("modulators", MODULATORS)])
def test_the_list_names_every_registered_piece(command, registry, capsys):
    assert main([command]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[:len(registry.names())]]
    assert listed == registry.names()


def test_one_method_shows_every_option_with_type_default_and_description(capsys):
    assert main(["methods", "g2d"]) == 0
    out = capsys.readouterr().out
    for name in METHODS.get("g2d").options.model_fields:
        assert f"  {name}: " in out
    assert "beta: float = 0.0" in out and "gamma: float = 1.0" in out  # g2d's own defaults, not the paper's
    assert "schedule: 'fixed' | 'adaptive' = 'adaptive'" in out
    assert "Gradient-Guided Distillation" in out


def test_path_options_are_shown_as_paths_and_required_ones_as_required():
    rows = {r.name: r for r in options_of(DATASETS.get("manifest").options)}
    assert (rows["path"].type, rows["path"].default) == ("path", "required")
    assert rows["base_dir"].type == "path | None"


def test_an_unknown_name_lists_the_choices(capsys):
    assert main(["fusions", "concatt"]) == 2
    assert "unknown fusion 'concatt'; expected one of" in capsys.readouterr().err

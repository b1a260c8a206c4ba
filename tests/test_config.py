import re
from pathlib import Path

import pytest
import yaml

from g2d.config import load_config, parse_config
from g2d.validation import ConfigError, DataError


def raw(**method):
    return {"data": {"name": "synthetic"}, "student": {"epochs": 10}, "method": method}


def test_unknown_method_names_the_field_and_the_choices():
    with pytest.raises(ConfigError, match=r"method\.name: unknown method 'g3d'.*'g2d'"):
        parse_config(raw(name="g3d"))


def test_phase_list_of_wrong_length_names_the_field():
    with pytest.raises(ConfigError, match=r"method\.options: phases: expected 1 value.*M=2.*got 2"):
        parse_config(raw(name="g2d", options={"phases": [3, 3]}))


def test_phases_longer_than_training_are_refused():
    with pytest.raises(ConfigError, match=r"exceeds student\.epochs = 10"):
        parse_config(raw(name="g2d", options={"phases": [11]}))


def test_negative_alpha_names_the_field():
    with pytest.raises(ConfigError, match=r"method\.options\.alpha: Input should be greater than or equal to 0"):
        parse_config(raw(name="g2d", options={"alpha": -1}))


def test_unknown_option_and_unknown_section_are_errors():
    with pytest.raises(ConfigError, match=r"method\.options\.delta: Extra inputs are not permitted"):
        parse_config(raw(name="g2d", options={"delta": 1}))
    with pytest.raises(ConfigError, match=r"studnet: Extra inputs are not permitted"):
        parse_config({"studnet": {}})


def test_unknown_encoder_modality_and_fusion_are_named():
    with pytest.raises(ConfigError, match=r"model\.encoders: unknown modalities \['audio'\]"):
        parse_config({"model": {"encoders": {"audio": {"name": "mlp"}}}})
    with pytest.raises(ConfigError, match=r"model\.fusion\.name: unknown fusion 'concatt'"):
        parse_config({"model": {"fusion": {"name": "concatt"}}})


def test_defaults_are_resolved_and_yaml_round_trips(tmp_path):
    config = parse_config({"method": {"name": "g2d"}})
    assert config.model.encoders["strong"].name == "mlp"
    assert config.method.options["alpha"] == 1.0
    path = tmp_path / "c.yaml"
    path.write_text(config.to_yaml())
    again = load_config(path)
    assert again == config
    assert yaml.safe_load(path.read_text())["method"]["options"]["temperature"] == 1.0


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(bad)


def test_three_modalities_need_two_phases():
    config = parse_config({"data": {"options": {"num_modalities": 3}}, "student": {"epochs": 6},
                           "method": {"name": "g2d", "options": {"phases": [2, 2]}}})
    assert config.modalities == ("strong", "weak1", "weak2")


def test_replace_derives_a_validated_config_by_dotted_keys():
    from g2d.config import parse_config, replace
    from g2d.validation import ConfigError

    base = parse_config({"data": {"name": "synthetic"}, "method": {"name": "joint"}})
    derived = replace(base, {"student.epochs": 5, "student.optim.lr": 0.5})
    assert (derived.student.epochs, derived.student.optim.lr) == (5, 0.5)
    assert base.student.epochs != 5  # a copy: the original is untouched
    assert derived.model_dump() == parse_config({**base.model_dump(mode="json"),
                                                 "student": derived.student.model_dump(mode="json")}).model_dump()
    with pytest.raises(ConfigError, match=r"^student.epochs=0: invalid configuration:\n  student.epochs"):
        replace(base, {"student.epochs": 0})
    with pytest.raises(ConfigError, match=r"override 'seed.x': 'seed' is not a mapping"):
        replace(base, {"seed.x": 1})


def test_relative_data_paths_start_at_the_config_files_folder_and_are_recorded_absolute(tmp_path, monkeypatch):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "c.yaml").write_text("data: {name: manifest, options: {path: data/m.csv, modalities: [a, b], "
                                            "cache_dir: ../cache}}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config("../exp/c.yaml")
    assert config.data.options["path"] == str(tmp_path / "exp" / "data" / "m.csv")
    assert config.data.options["cache_dir"] == str(tmp_path / "cache")
    assert config.data.options["base_dir"] is None  # unset stays unset
    assert yaml.safe_load(config.to_yaml())["data"]["options"]["path"] == str(tmp_path / "exp" / "data" / "m.csv")
    # a value given on the command line (--set) starts at the working folder, as a shell user expects
    config = load_config(tmp_path / "exp" / "c.yaml", {"data.options.path": "mine.csv"})
    assert config.data.options["path"] == str(elsewhere / "mine.csv")
    assert config.data.options["cache_dir"] == str(tmp_path / "cache")
    # the Python API: the working folder; absolute and ~ paths are kept (~ expanded)
    raw = {"data": {"name": "mfeat", "options": {"root": "mf"}}}
    assert parse_config(raw).data.options["root"] == str(elsewhere / "mf")
    raw["data"]["options"]["root"] = "~/mf"
    assert parse_config(raw).data.options["root"] == str(Path.home() / "mf")


def test_a_missing_data_path_names_the_absolute_path_and_where_relative_paths_start(tmp_path, monkeypatch):
    from g2d.data.registry import build_splits

    (tmp_path / "c.yaml").write_text("data: {name: manifest, options: {path: digits.csv, modalities: [a, b]}}\n")
    monkeypatch.chdir(tmp_path.parent)
    config = load_config(tmp_path / "c.yaml")
    with pytest.raises(DataError, match=rf"manifest '{re.escape(str(tmp_path / 'digits.csv'))}' does not exist "
                                        r"\(relative paths in a config file start at that file's folder"):
        build_splits(config.data.name, config.data.options)


def test_path_options_are_declared_in_the_options_models():
    from g2d.catalog import DATASETS
    from g2d.registry import path_fields

    assert path_fields(DATASETS.get("manifest").options) == ["cache_dir", "path", "base_dir"]
    assert path_fields(DATASETS.get("mfeat").options) == ["root"]
    assert path_fields(DATASETS.get("synthetic").options) == []

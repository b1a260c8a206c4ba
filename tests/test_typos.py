"""An unknown name anywhere a user types one (method, fusion, encoder, modulator, data set, config
key, option key, ``--set`` key) suggests the closest valid one."""
from __future__ import annotations

import pytest

from g2d import catalog
from g2d.cli import main
from g2d.config import parse_config
from g2d.validation import ConfigError, did_you_mean

from conftest import tiny_config

REGISTRIES = {"method": (catalog.METHODS, "method.name"), "fusion": (catalog.FUSIONS, "model.fusion.name"),
              "encoder": (catalog.ENCODERS, "model.encoders.strong.name"),
              "data set": (catalog.DATASETS, "data.name")}


def typo(name: str) -> str:
    """A one-letter slip: the second letter doubled (no registered name is its own typo then)."""
    return name[:2] + name[1] + name[2:]


def set_key(raw: dict, key: str, value) -> None:
    *parents, leaf = key.split(".")
    for p in parents:
        raw = raw.setdefault(p, {})
    raw[leaf] = value


@pytest.mark.parametrize("kind", list(REGISTRIES))
def test_every_registered_name_misspelt_is_suggested(kind):
    registry, key = REGISTRIES[kind]
    checked = 0
    for name in registry.names():
        wrong = typo(name)
        if wrong in registry:
            continue
        raw = tiny_config().model_dump(mode="json")
        set_key(raw, key, wrong)
        with pytest.raises(ConfigError) as err:
            parse_config(raw)
        assert f"did you mean {name!r}?" in str(err.value), (kind, name, str(err.value))
        checked += 1
    assert checked >= 1


def test_modulator_name_typo_is_suggested():
    raw = tiny_config(method__name="joint", method__options={}).model_dump(mode="json")
    raw["method"]["modulators"] = [{"name": "smpp", "options": {}}]
    with pytest.raises(ConfigError, match=r"unknown modulator 'smpp'; did you mean 'smp'\?"):
        parse_config(raw)


@pytest.mark.parametrize("key, wrong, right", [
    ("student.optim", "lrr", "lr"), ("student", "epoch", "epochs"), ("", "studnet", "student"),
    ("data", "batchsize", "batch_size"), ("analysis", "trak", "track"),
    ("method.options", "phasess", "phases"), ("data.options", "num_trian", "num_train"),
])
def test_unknown_config_and_option_keys_suggest_the_closest(key, wrong, right):
    raw = tiny_config().model_dump(mode="json")
    set_key(raw, f"{key}.{wrong}" if key else wrong, 1)
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert f"{wrong}: Extra inputs are not permitted; did you mean {right!r}?" in str(err.value)
    assert "known keys:" in str(err.value)


def test_set_key_typo_names_the_set_option_and_suggests(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(tiny_config().to_yaml())
    code = main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run"), "--set", "student.optim.lrr=0.1"])
    err = capsys.readouterr().err
    assert code == 2 and "--set student.optim.lrr=0.1" in err and "did you mean 'lr'?" in err


def test_far_off_names_get_no_suggestion():
    assert did_you_mean("zzzzzz", ["g2d", "joint"]) == ""
    assert did_you_mean("g2", ["g2d", "joint"]) == "; did you mean 'g2d'?"


def test_config_file_in_a_symlink_loop_is_named(tmp_path, capsys):
    loop = tmp_path / "c.yaml"
    loop.symlink_to(loop)
    code = main(["train", str(loop), "--out", str(tmp_path / "run")])
    assert code == 2 and "is a symbolic link loop" in capsys.readouterr().err


def test_config_that_is_a_folder_is_named(tmp_path, capsys):
    code = main(["train", str(tmp_path), "--out", str(tmp_path / "run")])
    assert code == 2 and f"config file {str(tmp_path)!r} is a folder; expected a file" in capsys.readouterr().err

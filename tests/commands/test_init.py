"""`g2d init` and `g2d configs`: the example configs shipped inside the package."""
from __future__ import annotations

from pathlib import Path

import pytest

from g2d.cli import main
from g2d.commands.init import shipped_configs

ROOT = Path(__file__).resolve().parents[2]


def test_every_example_config_of_the_repository_ships_in_the_package():
    repo = {p.relative_to(ROOT / "configs").with_suffix("").as_posix() for p in (ROOT / "configs").rglob("*.yaml")}
    assert set(shipped_configs()) == repo and {"demo", "manifest", "paper/avmnist"} <= repo


def test_init_copies_an_example_and_names_its_relative_data_paths(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "demo"]) == 0
    assert (tmp_path / "demo.yaml").read_text() == (ROOT / "configs" / "demo.yaml").read_text()
    (tmp_path / "exp").mkdir()
    assert main(["init", "paper/avmnist", "exp"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "exp" / "avmnist.yaml").is_file()
    assert "data.options.root: ../../runs/data/av-digits/snr-5" in out
    assert main(["init", "manifest", "mine.yaml"]) == 0 and (tmp_path / "mine.yaml").is_file()


def test_init_refuses_to_overwrite_and_an_unknown_name_lists_the_examples(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo.yaml").write_text("mine\n")
    assert main(["init", "demo"]) == 2
    assert "demo.yaml already exists; choose another DEST or pass --force" in capsys.readouterr().err
    assert (tmp_path / "demo.yaml").read_text() == "mine\n"
    assert main(["init", "demo", "--force"]) == 0 and (tmp_path / "demo.yaml").read_text() != "mine\n"
    assert main(["init", "dmeo"]) == 2
    assert "no example config 'dmeo'; expected one of ['arrays'" in capsys.readouterr().err


def test_configs_list_and_show(capsys):
    assert main(["configs", "list"]) == 0
    out = capsys.readouterr().out
    assert "paper/cremad" in out and "synthetic-3" in out
    assert main(["configs", "show", "demo"]) == 0
    assert capsys.readouterr().out == (ROOT / "configs" / "demo.yaml").read_text()

"""A config's relative data paths follow the config file, not the working folder: the pipeline runs
from any folder, and the run folder's recorded config.yaml repeats the run from anywhere else."""
from __future__ import annotations

import numpy as np
import yaml

from g2d.cli import main

QUICK = ["--set", "teachers.epochs=1", "--set", "student.epochs=2", "--set", "method.options.phases=[1]", "--quiet"]


def write_experiment(folder):
    """folder/exp.yaml reading folder/data/m.csv: two inline-number modalities, 3 classes, given splits."""
    rng = np.random.default_rng(0)
    rows = ["a,b,label,split"]
    for i in range(90):
        y = i % 3
        a = " ".join(f"{v:.3f}" for v in rng.normal(y, 1.0, 4))
        b = " ".join(f"{v:.3f}" for v in rng.normal(-y, 1.0, 3))
        rows.append(f'"{a}","{b}",c{y},{("train", "train", "train", "val", "test")[i % 5]}')
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "m.csv").write_text("\n".join(rows) + "\n")
    (folder / "exp.yaml").write_text("data: {name: manifest, options: {path: data/m.csv, modalities: [a, b]}, "
                                     "batch_size: 16}\nmethod: {name: g2d}\n")


def test_a_config_runs_from_another_folder_and_its_recorded_config_repeats_it_from_a_third(tmp_path, monkeypatch):
    write_experiment(tmp_path / "project")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["teachers", "../project/exp.yaml", "--out", "run", *QUICK]) == 0
    assert main(["train", "../project/exp.yaml", "--out", "run", *QUICK]) == 0
    recorded = tmp_path / "elsewhere" / "run" / "students" / "g2d" / "config.yaml"
    assert yaml.safe_load(recorded.read_text())["data"]["options"]["path"] == str(tmp_path / "project" / "data" / "m.csv")

    (tmp_path / "third").mkdir()
    monkeypatch.chdir(tmp_path / "third")
    assert main(["teachers", str(tmp_path / "elsewhere" / "run" / "config.yaml"), "--out", "again", "--quiet"]) == 0
    assert main(["train", str(recorded), "--out", "again", "--quiet"]) == 0
    assert (tmp_path / "third" / "again" / "students" / "g2d" / "result.json").is_file()


def test_a_missing_relative_path_says_which_folder_it_was_read_against(tmp_path, monkeypatch, capsys):
    write_experiment(tmp_path / "project")
    (tmp_path / "project" / "data" / "m.csv").rename(tmp_path / "m.csv")  # the file sits in the working folder
    monkeypatch.chdir(tmp_path)
    assert main(["teachers", "project/exp.yaml", "--out", "run", *QUICK]) == 2
    err = capsys.readouterr().err
    assert f"manifest '{tmp_path / 'project' / 'data' / 'm.csv'}' does not exist" in err
    assert "relative paths in a config file start at that file's folder" in err

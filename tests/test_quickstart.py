"""The README's two quick starts run as written, from a fresh clone's layout (configs/ beside the
run folders). The CLI lines are shrunk only by --set (fewer epochs), as the README says."""
from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from g2d.cli import main
from g2d.config import load_config
from g2d.demo import demo_config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SHRINK = ["--set", "teachers.epochs=3", "--set", "student.epochs=3", "--set", "method.options.phases=[1]"]


def block(section: str, language: str) -> str:
    """The first ``language`` code block after the heading ``section``."""
    text = README[README.index(section):]
    match = re.search(rf"```{language}\n(.*?)```", text, re.S)
    assert match, f"no {language} block under {section!r}"
    return match.group(1)


def cli_lines() -> list[list[str]]:
    lines = [line.split("#")[0].strip() for line in block("## Quick start: CLI", "bash").splitlines()]
    return [shlex.split(line) for line in lines if line]


def students(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "students").iterdir() if p.is_dir())


@pytest.fixture
def fresh_clone(tmp_path: Path, monkeypatch) -> Path:
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_configs_demo_yaml_is_the_demos_experiment() -> None:
    shipped = load_config(ROOT / "configs" / "demo.yaml").model_dump()
    assert shipped.pop("tune") is not None  # the search space of `g2d tune`
    expected = demo_config().model_dump()
    expected.pop("tune")
    assert shipped == expected


@pytest.mark.slow
def test_the_cli_quick_start_runs_as_written(fresh_clone: Path) -> None:
    lines = cli_lines()
    assert [line[1] for line in lines] == ["teachers", "diagnose", "cache", "train", "train", "evaluate", "train",
                                           "report"]
    for line in lines:
        args = line[1:]
        if args[0] in ("teachers", "diagnose", "cache", "train"):
            args = args[:2] + SHRINK + args[2:]
        assert main(args + ["--quiet"]) == 0, " ".join(line)
    run = fresh_clone / "runs" / "exp"
    config = yaml.safe_load((run / "config.yaml").read_text())  # the run's experiment, as the README says
    assert config["method"]["name"] == "g2d" and config["teachers"]["epochs"] == 3
    assert students(run) == ["g2d", "joint"]
    assert (run / "summary.json").exists() and (run / "cache" / "manifest.json").exists()
    assert (run / "report" / "report.html").exists()


@pytest.mark.slow
def test_the_python_quick_start_runs_as_written(fresh_clone: Path, capsys) -> None:
    code = block("## Quick start: Python", "python")
    exec(compile(code, "README.md (Quick start: Python)", "exec"), {"__name__": "quickstart"})
    assert (fresh_clone / "runs" / "py" / "students" / "g2d" / "model.safetensors").exists()
    assert students(fresh_clone / "runs" / "cmp") == ["g2d", "joint", "joint+smp"]
    result = json.loads((fresh_clone / "runs" / "py" / "students" / "g2d" / "result.json").read_text())
    epoch, accuracy = capsys.readouterr().out.split()[:2]  # what the snippet prints: selected epoch, test acc.
    assert (int(epoch), float(accuracy)) == (result["selected_epoch"], pytest.approx(result["test"]["accuracy"]))

"""The prepare package's wiring: the CLI's list of data sets is the registry's, the library core
never imports g2d.prepare, options errors name the field, and the seeded split is stable."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from g2d.commands.prepare import DATASETS
from g2d.prepare import PREPARERS, PrepareError, prepare
from g2d.prepare.base import stable_rank
from g2d.prepare.cremad import speaker_split

SRC = Path(__file__).resolve().parents[2] / "src" / "g2d"
#: the layers above the core that may import g2d.prepare
ALLOWED = ("prepare", "commands", "bench", "api.py", "cli.py")


def test_the_cli_lists_every_registered_data_set():
    assert sorted(DATASETS) == PREPARERS.names()


def test_the_core_never_imports_prepare():
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{rel}: {n}" for n in names if n == "g2d.prepare" or n.startswith("g2d.prepare.")]
    assert offenders == []


def test_bad_options_and_unknown_data_sets_are_named(tmp_path):
    with pytest.raises(PrepareError, match="fps"):
        prepare("cremad", tmp_path, tmp_path / "o", {"fps": -1})
    with pytest.raises(PrepareError, match="split"):
        prepare("cremad", tmp_path, tmp_path / "o", {"split": "random"})
    with pytest.raises(PrepareError, match="Unknown data set to prepare 'ucf'"):
        prepare("ucf", tmp_path, tmp_path / "o")
    with pytest.raises(PrepareError, match="no VideoFlash/ folder"):
        prepare("cremad", tmp_path, tmp_path / "o")


def test_the_speaker_split_is_seeded_and_holds_out_whole_actors():
    clips = [f"{a}_IEO_NEU_XX" for a in range(1001, 1092)] + [f"{a}_TIE_HAP_XX" for a in range(1001, 1092)]
    split = speaker_split(clips, seed=0, fraction=0.1)
    test_actors = {c.split("_")[0] for c, s in split.items() if s == "test"}
    assert len(test_actors) == 10  # ceil(0.1 * 91)
    assert all(split[f"{a}_TIE_HAP_XX"] == "test" for a in test_actors)
    assert speaker_split(clips, seed=0, fraction=0.1) == split
    assert speaker_split(clips, seed=1, fraction=0.1) != split
    # hash-ranked: the order depends on nothing but the seed and the names
    assert stable_rank(["b", "a", "c"], 7) == stable_rank(["c", "b", "a"], 7)


@pytest.mark.parametrize("fault, phrase", [("loop", "is a symbolic link loop"),
                                           ("broken-link", "is a broken symbolic link"),
                                           ("file", "is a file; expected a folder")])
def test_a_bad_raw_folder_is_named_as_what_it_is(tmp_path, fault, phrase):
    raw = tmp_path / "raw"
    if fault == "loop":
        raw.symlink_to(raw)
    elif fault == "broken-link":
        raw.symlink_to(tmp_path / "unmounted")
    else:
        raw.write_text("not the download\n")
    with pytest.raises(PrepareError) as err:
        prepare("cremad", raw, tmp_path / "o")
    assert f"raw folder {str(raw)!r} {phrase}" in str(err.value) and "does not exist;" not in str(err.value)

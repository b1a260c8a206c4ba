"""g2d.paths: every way a path can be wrong is named as what it is; names are one path component."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from g2d.paths import check_name, path_problem, require_file, require_folder
from g2d.validation import ConfigError, G2DError


def make(tmp_path: Path, case: str) -> Path:
    """A path that is wrong in the way ``case`` names."""
    path = tmp_path / "p"
    if case == "missing":
        pass
    elif case == "loop":
        path.symlink_to(path)
    elif case == "loop-of-two":
        (tmp_path / "q").symlink_to(path)
        path.symlink_to(tmp_path / "q")
    elif case == "broken-link":
        path.symlink_to(tmp_path / "gone")
    elif case == "folder":
        path.mkdir()
    elif case == "file":
        path.write_text("x")
    elif case == "under-a-file":
        (tmp_path / "f").write_text("x")
        path = tmp_path / "f" / "p"
    return path


@pytest.mark.parametrize("case, kind, phrase", [
    ("missing", "file", "does not exist"),
    ("loop", "file", "is a symbolic link loop"),
    ("loop-of-two", "folder", "is a symbolic link loop"),
    ("broken-link", "file", "is a broken symbolic link"),
    ("folder", "file", "is a folder; expected a file"),
    ("file", "folder", "is a file; expected a folder"),
    ("under-a-file", "file", "a part of it is a file"),
])
def test_each_problem_is_named_as_what_it_is(tmp_path, case, kind, phrase):
    path = make(tmp_path, case)
    assert phrase in path_problem(path, kind)
    check = require_file if kind == "file" else require_folder
    with pytest.raises(ConfigError) as err:
        check(path, "config thing", ConfigError)
    assert str(err.value).startswith(f"config thing {str(path)!r} ") and phrase in str(err.value)
    if case in ("loop", "loop-of-two", "folder", "file"):
        assert "does not exist" not in str(err.value)  # not the blanket message


def test_good_paths_pass(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "f")
    assert path_problem(tmp_path / "f", "file") is None
    assert path_problem(tmp_path / "link", "file") is None  # a link to a file is that file
    assert path_problem(tmp_path, "folder") is None
    assert require_file(tmp_path / "f", "x") == tmp_path / "f"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads anything")
def test_permission_denied_is_named(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "f").write_text("x")
    locked.chmod(0)
    try:
        assert "permission denied" in path_problem(locked / "f", "file")
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("name", ["", " ", ".", "..", "../x", "a/b", "a\\b", "/abs", ".hidden", "a\nb", "x" * 256])
def test_bad_names_are_refused_naming_the_option(name):
    with pytest.raises(ConfigError, match=r"^--name .* expected one folder name"):
        check_name(name, "--name")


@pytest.mark.parametrize("name", ["g2d", "joint+smp", "trial-001", "g2d_lr0.1", "é"])
def test_good_names_pass(name):
    assert check_name(name, "--name") == name


def test_every_path_error_is_a_g2d_error(tmp_path):
    with pytest.raises(G2DError):
        require_file(tmp_path / "nope", "x")


def test_a_hint_is_added_only_where_the_path_does_not_exist(tmp_path):
    with pytest.raises(G2DError, match=r"does not exist \(relative paths start at the config's folder\)$"):
        require_file(tmp_path / "nope", "x", hint="relative paths start at the config's folder")
    with pytest.raises(G2DError, match=r"is a folder; expected a file$"):
        require_file(tmp_path, "x", hint="relative paths start at the config's folder")

"""The one place paths are checked: what is wrong with a path is named as it is (missing, a symlink
loop, a broken link, a folder where a file is expected, the reverse, no permission), never a
blanket "does not exist"; and a user-given name that becomes a folder is a single path component.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Literal

from g2d.validation import ConfigError, G2DError

Kind = Literal["file", "folder"]


def access_problem(path: str | Path, kind: Kind | None = None) -> str | None:
    """Why ``path`` cannot be reached at all (missing, a symbolic link loop, a broken link, a file
    in the middle of it, no permission), as a phrase to follow the path in a message; None when
    something is there, whatever it is. ``kind``, when known, is named in the file-in-the-path case."""
    path = Path(path)
    try:
        path.stat()  # follows links: ELOOP for a loop, ENOENT for a missing or dangling one
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "is a symbolic link loop (it points back to itself); fix or remove the link"
        if err.errno == errno.EACCES:
            return "cannot be accessed (permission denied)"
        if err.errno == errno.ENOTDIR:
            return f"does not exist (a part of it is a file, not a folder{f'; expected a {kind}' if kind else ''})"
        if path.is_symlink():
            return f"is a broken symbolic link (to {os.readlink(path)!r}, which does not exist)"
        return "does not exist"
    return None


def path_problem(path: str | Path, kind: Kind) -> str | None:
    """Why ``path`` is not an existing ``kind`` ("file" or "folder"), as a phrase to follow the
    path in a message; None when it is one."""
    problem = access_problem(path, kind)
    if problem:
        return problem
    is_dir = os.path.isdir(path)
    if kind == "file" and is_dir:
        return "is a folder; expected a file"
    if kind == "folder" and not is_dir:
        return "is a file; expected a folder"
    return None


def require(path: str | Path, kind: Kind, what: str, error: type[G2DError] = G2DError, hint: str = "") -> Path:
    """``path`` when it is an existing ``kind``; else ``error`` saying ``what {path} <problem>``
    (and `` (hint)`` when the path does not exist, e.g. where relative paths start)."""
    problem = path_problem(path, kind)
    if problem:
        extra = f" ({hint})" if hint and problem.startswith("does not exist") else ""
        raise error(f"{what} {str(path)!r} {problem}{extra}")
    return Path(path)


def require_file(path: str | Path, what: str, error: type[G2DError] = G2DError, hint: str = "") -> Path:
    return require(path, "file", what, error, hint)


def require_folder(path: str | Path, what: str, error: type[G2DError] = G2DError, hint: str = "") -> Path:
    return require(path, "folder", what, error, hint)


#: longest folder name most file systems take (bytes)
MAX_NAME_BYTES = 255


def check_name(name: str, option: str) -> str:
    """``name`` when it is usable as one folder name (a student's ``--name``, a cell's label): not
    empty, not ``.``/``..``, no ``/`` or ``\\``, not hidden (``.x`` names are g2d's staging and lock
    files), no control characters, at most 255 bytes. ConfigError naming ``option`` otherwise."""
    why = None
    if not isinstance(name, str) or not name.strip():
        why = "is empty"
    elif name in (".", ".."):
        why = "is a relative folder reference"
    elif "/" in name or "\\" in name or os.sep in name:
        why = "holds a path separator"
    elif name.startswith("."):
        why = "starts with '.' (hidden names are g2d's own staging and lock files)"
    elif any(ord(c) < 32 for c in name):
        why = "holds a control character"
    elif len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        why = f"is longer than {MAX_NAME_BYTES} bytes"
    if why:
        raise ConfigError(f"{option} {name!r} {why}; expected one folder name such as g2d or joint-lr0.1 "
                          f"(letters, digits, '-', '_', '+')")
    return name

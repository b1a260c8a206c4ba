"""Run-folder locks: one process at a time writes a run's teachers, its cache or one student.

A lock is an OS file lock (:mod:`filelock`) on ``.<folder>.lock`` beside the folder, so it also
covers folders that are replaced by a rename (the cache). The OS drops it when its process dies,
so a run killed with ``kill -9`` never blocks ``--resume``; a lock file left behind is harmless.
Beside the lock, ``.<folder>.lock.json`` says who holds it (pid, host, command, since when) so a
refused second writer can name the holder.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from g2d.validation import G2DError


class FolderLockedError(G2DError):
    """Another process is writing the same run folder."""


def lock_path(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.lock"


def holder_path(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.lock.json"


def describe_holder(folder: Path) -> str:
    """Who holds ``folder``'s lock, as its holder file says ("unknown process" when it cannot tell)."""
    try:
        info = json.loads(holder_path(folder).read_text())
        return (f"pid {info['pid']} on {info['host']}, `{info['command']}`, since {info['since']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "an unknown process"


@contextmanager
def locked_folder(folder: str | Path, what: str) -> Iterator[None]:
    """Hold ``folder``'s write lock for the block; FolderLockedError naming the folder and its
    holder when another process holds it (never waits: two writers would interleave their files)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path(folder)), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise FolderLockedError(f"{folder} is being written by another process ({describe_holder(folder)}); "
                                f"wait for it to finish or write {what} to another --out folder") from None
    try:
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200],
                  "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        holder_path(folder).write_text(json.dumps(holder) + "\n")
        yield
    finally:
        holder_path(folder).unlink(missing_ok=True)
        lock.release()

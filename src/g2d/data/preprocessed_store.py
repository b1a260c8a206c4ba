"""The preprocessed-input cache as a store of entries (one folder per split and preprocessing):
list them with size, age, last use and the command that made them; prune by age or total size;
and an optional size cap (``cache_max_gib``) that evicts the least recently used entries.

An entry is *in use* while a split read from it is alive: opening takes a shared OS lock
(``flock``) on its ``manifest.json``, held by the split until it is garbage-collected or its
process exits (and released by the OS if the process is killed). Pruning takes the exclusive lock first and skips every entry it cannot get, so an
entry a running job reads is never deleted.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, entries are never reported in use
    fcntl = None  # type: ignore[assignment]



@dataclass
class Entry:
    path: Path
    size: int  # bytes
    created: str
    last_used: float  # epoch seconds (the manifest's mtime, touched at every open)
    made_by: str


class Lease:
    """A shared lock on one entry, released when this object is garbage-collected."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        fd = os.open(folder / "manifest.json", os.O_RDONLY)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_SH)
        weakref.finalize(self, os.close, fd)


def mark_in_use(folder: Path) -> Lease:
    """Record that ``folder`` is being read: touch its last-use time and return the shared lock
    that keeps a pruner away while the caller keeps it."""
    try:
        os.utime(folder / "manifest.json")
    except OSError:
        pass  # a read-only cache still works; its last-use time is then the build time
    return Lease(folder)


def list_entries(root: Path) -> list[Entry]:
    """Every complete entry under ``root``, least recently used first."""
    entries = []
    for folder in sorted(p for p in Path(root).glob("*") if (p / "manifest.json").is_file()):
        try:
            info = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            info = {}
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        entries.append(Entry(folder, size, str(info.get("created", "?")),
                             (folder / "manifest.json").stat().st_mtime, str(info.get("made_by", "?"))))
    return sorted(entries, key=lambda e: e.last_used)


def remove_unless_in_use(entry: Entry) -> bool:
    """Delete ``entry`` unless a live process holds it; True when it was deleted."""
    manifest = entry.path / "manifest.json"
    if fcntl is None:
        shutil.rmtree(entry.path, ignore_errors=True)
        return True
    try:
        fd = os.open(manifest, os.O_RDONLY)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # in use (by this process or another one)
        doomed = entry.path.with_name(f".{entry.path.name}.pruned")
        entry.path.rename(doomed)  # the entry vanishes at once; deleting its files may take a while
        shutil.rmtree(doomed, ignore_errors=True)
        return True
    finally:
        os.close(fd)


def prune(root: Path, older_than_s: float | None = None, max_bytes: int | None = None) -> list[Entry]:
    """Delete entries unused for more than ``older_than_s`` seconds, then the least recently used
    ones until the total is at most ``max_bytes``; never one in use. Returns the deleted entries."""
    entries, removed = list_entries(root), []
    now = time.time()
    if older_than_s is not None:
        for e in entries:
            if now - e.last_used > older_than_s and remove_unless_in_use(e):
                removed.append(e)
    if max_bytes is not None:
        alive = [e for e in entries if e not in removed]
        total = sum(e.size for e in alive)
        for e in alive:  # least recently used first
            if total <= max_bytes:
                break
            if remove_unless_in_use(e):
                removed.append(e)
                total -= e.size
    return removed


def format_entries(entries: list[Entry]) -> str:
    """A plain table: size, created, last used, what made it, folder."""
    now = time.time()
    lines = [f"{'size':>10}  {'created':19}  {'last used':>10}  made by / folder"]
    for e in entries:
        lines.append(f"{e.size / 2**20:>7.1f} MiB  {e.created:19}  {_ago(now - e.last_used):>10}  "
                     f"{e.made_by}\n{'':45}{e.path}")
    total = sum(e.size for e in entries)
    lines.append(f"{len(entries)} entries, {total / 2**20:.1f} MiB in all")
    return "\n".join(lines)


def _ago(seconds: float) -> str:
    for unit, span in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= span:
            return f"{seconds / span:.1f} {unit} ago"
    return f"{seconds:.0f} s ago"

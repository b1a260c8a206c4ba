"""The preprocessed-input cache as a store of entries (one folder per split and preprocessing):
list them with size, age, last use and the command that made them; prune by age or total size;
and an optional size cap (``cache_max_gib``) that evicts the least recently used entries.

Integrity: the manifest records each array's shape, SHA-256 and cheap fingerprint (size and 64
sampled blocks, as the teacher-output cache does). Opening an entry checks its shapes and
fingerprints (:func:`entry_problem`): a truncated, zeroed or replaced array is found then, and the
loader rebuilds the entry. ``g2d cache --verify`` (:func:`verify_entries`) reads every byte and
compares the full hashes. A build holds an OS lock on its staging folder; a staging folder that no
live build holds (its build was killed) is removed by :func:`remove_stale_staging`.

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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from g2d.io import file_fingerprint, file_sha256

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, entries are never reported in use
    fcntl = None  # type: ignore[assignment]

#: a staging folder untouched for this long, and not locked by a live build, was left by a killed one
STALE_STAGING_S = 60.0


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


def array_record(path: Path) -> dict[str, Any]:
    """What the manifest records of one stored array: shape, dtype, SHA-256 and fingerprint."""
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    return {"shape": list(arr.shape), "dtype": str(arr.dtype), "sha256": file_sha256(path),
            "fingerprint": file_fingerprint(path)}


def read_entry_manifest(folder: Path) -> dict[str, Any] | None:
    """An entry's manifest, or None when it is missing or is not a JSON object (damaged)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def entry_problem(folder: Path, shapes: dict[str, tuple[int, ...]], num_records: int, fmt: int) -> str | None:
    """What is wrong with an entry before its arrays are read (None: it can be used): its manifest
    is unreadable or of another format, or an array is missing, of another shape, or does not
    match its recorded fingerprint (truncated, zeroed or replaced)."""
    manifest = read_entry_manifest(folder)
    if manifest is None:
        return "its manifest.json is unreadable (not a JSON object)"
    if manifest.get("format") != fmt or not isinstance(manifest.get("arrays"), dict):
        return f"it has format {manifest.get('format')!r}, expected {fmt} with recorded array hashes"
    if not isinstance(manifest.get("good"), list) or not isinstance(manifest.get("skipped"), list):
        return "its manifest.json lacks the lists of good and skipped samples"
    if any(not isinstance(i, int) or not 0 <= i < num_records for i in manifest["good"]):
        return f"its manifest.json lists samples outside 0..{num_records - 1}"
    for m, shape in shapes.items():
        name, want = f"{m}.npy", [num_records, *shape]
        record = manifest["arrays"].get(name)
        if not isinstance(record, dict) or record.get("shape") != want:
            return f"{name} is not recorded with shape {want}"
        if not (folder / name).is_file():
            return f"{name} is missing"
        if file_fingerprint(folder / name) != record.get("fingerprint"):
            return f"{name} is not the file that was built (truncated, zeroed or replaced)"
        try:
            arr = np.load(folder / name, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            return f"{name} is unreadable ({err})"
        if list(arr.shape) != want or arr.dtype != np.float32:
            return f"{name} holds {arr.dtype} {list(arr.shape)}, expected float32 {want}"
    return None


def verify_entries(root: Path) -> tuple[list[str], list[Path]]:
    """Every entry's arrays against their recorded full SHA-256 (reads every byte): one line per
    entry, and the entries that differ (or record no hashes)."""
    lines, bad = [], []
    for entry in list_entries(root):
        manifest = read_entry_manifest(entry.path) or {}
        arrays = manifest.get("arrays")
        if not isinstance(arrays, dict) or not arrays:
            lines.append(f"{entry.path.name}: no hashes (made by an older g2d and never read by this one; "
                         f"`g2d cache --prune` removes it)")
            continue
        changed = [name for name, rec in sorted(arrays.items())
                   if not (entry.path / name).is_file() or not isinstance(rec, dict)
                   or file_sha256(entry.path / name) != rec.get("sha256")]
        lines.append(f"{entry.path.name}: " + (f"CHANGED {changed}" if changed else f"ok ({len(arrays)} arrays)"))
        if changed:
            bad.append(entry.path)
    return lines, bad


@contextmanager
def building(folder: Path) -> Iterator[None]:
    """Hold an exclusive OS lock on a staging folder while it is being built (released by the OS
    if the process is killed), so :func:`remove_stale_staging` never removes a live build."""
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def remove_stale_staging(root: Path, min_age_s: float = STALE_STAGING_S) -> list[Path]:
    """Delete the hidden staging folders (``.<entry>.*``) that killed builds or prunes left behind:
    those no live process holds locked and untouched for ``min_age_s``. Returns them."""
    removed = []
    now = time.time()
    for folder in Path(root).glob(".*"):
        try:
            if not folder.is_dir() or folder.is_symlink() or now - folder.stat().st_mtime < min_age_s:
                continue
            fd = os.open(folder, os.O_RDONLY)
        except OSError:
            continue
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a build in progress holds it
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        finally:
            os.close(fd)
    return removed

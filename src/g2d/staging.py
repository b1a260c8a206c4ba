"""Finished work is never damaged: a run (a student, a run's teachers) is written into a staging
folder beside its final place, ``.<name>.partial``, and published there by rename only when it has
finished; a finished one is replaced only with an explicit ``overwrite`` (``--overwrite``).

:func:`plan` makes every decision and check before anything is written (so a refused run writes
nothing); :func:`begin` prepares the staging folder (the first write); :func:`publish` swaps it in.
An interrupted run stays in its staging folder, where ``--resume`` continues it; a plain rerun over
it is refused (``--resume`` continues, ``--overwrite`` starts again), so its epochs are never lost
by accident either.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from g2d.validation import G2DError


class FinishedRunError(G2DError):
    """A command would replace or mix with finished (or interrupted) work without being asked to."""


def partial_path(final: Path) -> Path:
    return final.parent / f".{final.name}.partial"


@dataclass(frozen=True)
class Plan:
    """Where a run writes and what it starts from (decided by :func:`plan`, nothing written yet)."""

    final: Path
    staging: Path
    resume_from: Path | None  # the folder whose checkpoints a resumed run continues (None: fresh)
    replaces: bool  # publishing replaces a finished run
    marker: str = "result.json"  # the file (glob) that makes a folder finished


def is_finished(final: Path, marker: str) -> bool:
    """Whether ``final`` holds finished work: ``marker`` (a glob, e.g. ``result.json`` or
    ``*/card.json``) matches a file in it."""
    return any(p.is_file() for p in final.glob(marker))


def plan(final: Path, marker: str, what: str, *, resume: bool, overwrite: bool,
         rename_hint: str = "choose another --out") -> Plan:
    """Decide where the run writes; FinishedRunError (nothing written) when it would replace a
    finished ``what`` without ``overwrite``/``resume`` or drop an interrupted one without ``overwrite``."""
    final = Path(final)
    staging = partial_path(final)
    recover(final)
    finished = is_finished(final, marker)
    interrupted = staging.is_dir()
    if finished and not (overwrite or resume):
        raise FinishedRunError(
            f"{final} already holds a finished {what}; it was left untouched. Pass --overwrite to replace it "
            f"(it stays intact until the new run has finished), --resume to continue it (e.g. with more "
            f"epochs), or {rename_hint}")
    if interrupted and not (resume or overwrite):
        raise FinishedRunError(
            f"an interrupted run of {what} is in {staging}; pass --resume to continue it, --overwrite to "
            f"discard it and start again, or {rename_hint}")
    source = None
    if resume:
        if interrupted and (staging / "checkpoints").is_dir() or any(staging.glob("*/checkpoints")):
            source = staging
        elif (final / "checkpoints").is_dir() or any(final.glob("*/checkpoints")):
            source = final  # continue the finished (or an older unfinished) run: a copy is staged
    return Plan(final, staging, source, replaces=finished, marker=marker)


def begin(p: Plan) -> Path:
    """The first write: a fresh staging folder, or the one resumed (a finished run resumed is
    copied there first, so it stays intact until the resumed run has finished; the copy leaves out
    the marker files, so a staging folder never looks finished to a reader of the run)."""
    if p.resume_from == p.staging:
        return p.staging
    if p.staging.exists():
        shutil.rmtree(p.staging)
    p.staging.parent.mkdir(parents=True, exist_ok=True)
    if p.resume_from is not None:
        shutil.copytree(p.resume_from, p.staging, symlinks=True, ignore=shutil.ignore_patterns(Path(p.marker).name))
    else:
        p.staging.mkdir()
    return p.staging


def old_path(final: Path) -> Path:
    return final.parent / f".{final.name}.old"


def recover(final: Path) -> None:
    """Undo a publish cut between its two renames (the finished run moved aside, the new one not yet
    in place): the finished run goes back, and the new one stays staged for ``--resume``."""
    old = old_path(final)
    if old.is_dir() and not final.exists():
        old.rename(final)


def publish(p: Plan) -> Path:
    """Replace ``p.final`` by the finished staging folder (two renames; the old one is removed after)."""
    old = old_path(p.final)
    if old.exists():
        shutil.rmtree(old)
    if p.final.exists():
        p.final.rename(old)
    p.staging.rename(p.final)
    shutil.rmtree(old, ignore_errors=True)
    return p.final

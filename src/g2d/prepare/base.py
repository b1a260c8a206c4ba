"""The machinery every data set's ``prepare`` shares: options, the per-clip work (decode, write
into a staging folder, publish by rename), resuming, ``skipped.csv`` and ``prepare.json``.

A data set module only says which clips there are (:meth:`Preparer.plan`: name, label, split and
source files per clip) and which list files the loader reads (:meth:`Preparer.lists`).

``PREPARED_DIR/prepare.json`` records the g2d version, the versions of every library that decides
the bytes written, the options, and per clip its source files (size, mtime) and the SHA-256 of each
file it produced. A rerun redoes only the clips whose sources, options or library versions changed
(or whose outputs are missing); an interrupted run leaves one record per finished clip under
``PREPARED_DIR/.prepare/`` and never a half-written clip under its real name.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

from pydantic import Field

from g2d.io import file_sha256
from g2d.paths import access_problem, path_problem, require_file
from g2d.prepare.media import BadClip, FrameRule, ImageRule, decode_audio, library_versions, sample_frames, wav_bytes
from g2d.registry import Options, Registry
from g2d.validation import G2DError

#: bump when the bytes written for the same options change (invalidates every recorded clip)
FORMAT_VERSION = 1
MANIFEST = "prepare.json"
SKIPPED = "skipped.csv"
STATE_DIR = ".prepare"
#: test hook: SIGKILL this process after it has finished this many clips and written the first
#: frame of the next (a hard interruption in the middle of a clip)
KILL_AFTER_ENV = "G2D_PREPARE_KILL_AFTER"


class PrepareError(G2DError):
    """``g2d prepare`` cannot go on: a bad clip without ``--skip-bad``, a missing list file, ..."""


class MediaOptions(Options):
    """How clips are decoded; a change of any of these redoes every clip."""

    sampling: Literal["fps", "even"] = Field("fps", description="fps: one frame every 1/fps s; even: "
                                             "num_frames evenly spaced over the clip")
    fps: float = Field(1.0, gt=0, description="frames kept per second (sampling: fps)")
    num_frames: int = Field(3, ge=1, description="frames kept per clip (sampling: even)")
    frame_size: int | None = Field(None, ge=8, description="resize the shorter side to this many pixels; "
                                   "null keeps the decoded size")
    jpeg_quality: int = Field(95, ge=1, le=100, description="JPEG quality of the stored frames")
    sample_rate: int = Field(16000, gt=0, description="audio sample rate written (Hz)")
    mono: bool = Field(True, description="mix the audio down to one channel")
    max_seconds: float | None = Field(None, gt=0, description="use only the first this many seconds of "
                                      "each clip (frames and audio); null: the whole clip")

    def frame_rule(self) -> FrameRule:
        return FrameRule(self.sampling, self.fps, self.num_frames, self.max_seconds)

    def image_rule(self) -> ImageRule:
        return ImageRule(self.frame_size, self.jpeg_quality)

    def media_fields(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in MediaOptions.model_fields}


class SplitOptions(MediaOptions):
    """Options of data sets whose split g2d makes when none is published (seeded, deterministic)."""

    seed: int = Field(0, description="seed of g2d's own splits (unused with a published split)")
    test_fraction: float = Field(0.1, gt=0, lt=1, description="share of groups (speakers) held out for test "
                                 "in g2d's own splits")


@dataclass(frozen=True)
class ClipJob:
    """One clip to prepare: its output name, label, split and source files."""

    name: str
    label: str
    split: str
    video: Path | None
    audio: Path | None  # a wav file, or the video itself (its audio track)

    def sources(self) -> list[Path]:
        return sorted({p for p in (self.video, self.audio) if p is not None})


@dataclass
class Plan:
    """What a data set's :meth:`Preparer.plan` found: the clips, and notes for prepare.json (the
    split's provenance, raw files no list names, ...)."""

    jobs: list[ClipJob]
    notes: dict[str, Any] = field(default_factory=dict)
    bad: list[tuple[str, str]] = field(default_factory=list)  # (clip, reason) found while planning


@dataclass(frozen=True)
class Layout:
    """Where a data set's outputs go, relative to PREPARED_DIR."""

    audio_dir: str
    frames_dir: str

    def audio_file(self, clip: str) -> str:
        return f"{self.audio_dir}/{clip}.wav"

    def frame_folder(self, clip: str) -> str:
        return f"{self.frames_dir}/{clip}"


class Preparer:
    """One data set's raw layout -> the layout its g2d loader reads. Subclasses set ``name`` and
    write :meth:`plan`, :meth:`layout` and :meth:`lists`."""

    name: str = ""
    #: "clips": decoded clip by clip (plan/layout/lists); "arrays": one conversion (convert)
    kind: str = "clips"

    def __init__(self, options: Any) -> None:
        self.options = options

    def plan(self, raw: Path) -> Plan:
        raise NotImplementedError

    def layout(self) -> Layout:
        raise NotImplementedError

    def lists(self, done: list[ClipJob]) -> dict[str, str]:
        """List files (relative path -> text) for the prepared clips, in the loader's format."""
        raise NotImplementedError

    def convert(self, raw: Path) -> tuple[dict[str, bytes], dict[str, Any]]:
        """``kind = "arrays"``: the output files (relative path -> bytes) and notes for prepare.json."""
        raise NotImplementedError

    def loader_options(self) -> dict[str, Any]:
        """``data.options`` the loader needs beyond ``root`` (printed after preparing)."""
        return {}


PREPARERS: Registry[Callable[..., Preparer]] = Registry("data set to prepare")


def source_signature(paths: Iterable[Path]) -> dict[str, list[int] | None]:
    """``{path: [size, mtime_ns]}`` (None for a missing file): what decides whether a clip is redone."""
    out: dict[str, list[int] | None] = {}
    for p in paths:
        try:
            st = p.stat()
            out[str(p)] = [st.st_size, st.st_mtime_ns]
        except OSError:
            out[str(p)] = None
    return out


def clip_key(dataset: str, options: MediaOptions, versions: dict[str, str]) -> str:
    """Fingerprint of everything that decides a clip's bytes besides its sources."""
    text = json.dumps({"format": FORMAT_VERSION, "dataset": dataset, "media": options.media_fields(),
                       "versions": versions}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` beside ``path`` under a temporary name, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def remove_outputs(out: Path, layout: Layout, clip: str) -> None:
    shutil.rmtree(out / layout.frame_folder(clip), ignore_errors=True)
    (out / layout.audio_file(clip)).unlink(missing_ok=True)


def _kill_hook(finished: int) -> None:
    """Test hook (see :data:`KILL_AFTER_ENV`): a SIGKILL in the middle of a clip."""
    wanted = os.environ.get(KILL_AFTER_ENV)
    if wanted is not None and finished >= int(wanted):
        os.kill(os.getpid(), signal.SIGKILL)


_FINISHED_HERE = 0  # clips this process has finished: read only by the test hook above


def prepare_clip(job: ClipJob, out: Path, layout: Layout, options: MediaOptions) -> dict[str, Any]:
    """Decode one clip into a staging folder, then publish its frame folder and wav by rename.
    Returns its record ``{"files": {relative path: sha256}}``; raises :class:`BadClip`."""
    global _FINISHED_HERE
    if job.video is None or job.audio is None:
        raise BadClip(job.name, "no video file" if job.video is None else "no audio file")
    samples = decode_audio(job.audio, job.name, options.sample_rate, options.mono, options.max_seconds)
    staging = out / STATE_DIR / "staging" / f"{job.name}.{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "frames").mkdir(parents=True)
    files: dict[str, str] = {}
    try:
        image = options.image_rule()
        for k, _, frame in sample_frames(job.video, job.name, options.frame_rule()):
            data = image.encode(frame)
            (staging / "frames" / f"{k:05d}.jpg").write_bytes(data)
            files[f"{layout.frame_folder(job.name)}/{k:05d}.jpg"] = hashlib.sha256(data).hexdigest()
            if k == 0:
                _kill_hook(_FINISHED_HERE)
        audio = wav_bytes(samples, options.sample_rate)
        files[layout.audio_file(job.name)] = hashlib.sha256(audio).hexdigest()
        (staging / "audio.wav").write_bytes(audio)
        publish(staging, out, layout, job.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _FINISHED_HERE += 1
    return {"files": dict(sorted(files.items()))}


def publish(staging: Path, out: Path, layout: Layout, clip: str) -> None:
    """Move a finished clip from staging to its real names: the frame folder by one rename (an old
    one first renamed aside), then the wav by one rename."""
    folder = out / layout.frame_folder(clip)
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        old = staging / "old-frames"
        folder.rename(old)
    (staging / "frames").rename(folder)
    wav = out / layout.audio_file(clip)
    wav.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging / "audio.wav", wav)


def run_clip(job: ClipJob, out: Path, layout: Layout, options: MediaOptions) -> tuple[str, dict[str, Any] | str]:
    """Worker entry: ``(name, record)`` or ``(name, reason)`` for a bad clip."""
    try:
        return job.name, prepare_clip(job, out, layout, options)
    except BadClip as bad:
        return job.name, bad.reason


@dataclass
class PrepareResult:
    """What one ``prepare`` run did."""

    out: Path
    prepared: int  # clips decoded in this run
    reused: int  # clips kept from an earlier run
    skipped: list[tuple[str, str]]  # (clip, reason)
    counts: dict[str, int]  # clips (samples) per split in the lists
    loader_options: dict[str, Any]
    unit: str = "clip"

    def summary(self) -> str:
        splits = ", ".join(f"{n} {s}" for s, n in self.counts.items())
        line = (f"prepared {self.prepared} {self.unit}(s), kept {self.reused} from an earlier run ({splits})"
                f"; skipped {len(self.skipped)}")
        return line + (f" (see {self.out / SKIPPED})" if self.skipped else "")


class ClipRecords:
    """The per-clip records of earlier runs: prepare.json's, plus one file per clip finished by an
    interrupted run (``.prepare/clips/``)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.folder = out / STATE_DIR / "clips"
        self.records: dict[str, dict[str, Any]] = {}
        manifest = out / MANIFEST
        if manifest.is_file():
            try:
                self.records.update(json.loads(manifest.read_text()).get("clips", {}))
            except (json.JSONDecodeError, OSError):
                pass  # an unreadable record only means redoing the clips
        if self.folder.is_dir():
            for path in sorted(self.folder.glob("*.json")):
                try:
                    record = json.loads(path.read_text())
                    self.records[record["name"]] = record
                except (json.JSONDecodeError, OSError, KeyError):
                    continue

    def reusable(self, job: ClipJob, key: str, signature: dict[str, Any]) -> dict[str, Any] | None:
        """The earlier record of ``job`` when its key and sources match and its outputs exist."""
        record = self.records.get(job.name)
        if not record or record.get("key") != key or record.get("sources") != signature:
            return None
        if "skipped" in record:
            return record
        if all((self.out / rel).is_file() for rel in record.get("files", {})):
            return record
        return None

    def save(self, record: dict[str, Any]) -> None:
        self.records[record["name"]] = record
        write_atomic(self.folder / f"{record['name']}.json", json.dumps(record).encode())


def prepare(dataset: str, raw: str | Path, out: str | Path, options: dict[str, Any] | MediaOptions | None = None,
            *, workers: int | None = None, skip_bad: bool = False, progress: bool = False,
            log: Callable[[str], None] | None = None) -> PrepareResult:
    """Turn the raw download of ``dataset`` at ``raw`` into the layout g2d's loader reads, at ``out``.

    ``options``: the data set's options (see ``g2d prepare DATASET --help``); ``workers``: decoding
    processes (default: every core); ``skip_bad``: skip bad clips (listed in skipped.csv) instead of
    stopping at the first one. Reruns do only what is missing or changed."""
    raw, out = Path(raw).expanduser(), Path(out).expanduser()
    try:
        preparer: Preparer = PREPARERS.create(dataset, options)
    except KeyError as err:
        raise PrepareError(str(err.args[0])) from None
    except ValueError as err:
        raise PrepareError(f"invalid options:\n  {err}") from None
    problem = access_problem(raw, "folder") or (None if raw.is_dir() or preparer.kind == "arrays"
                                                else "is a file; expected a folder")
    if problem:
        raise PrepareError(f"raw folder {str(raw)!r} {problem}; expected the data set's download "
                           f"(see docs/datasets/{dataset}.md)")
    if out.resolve() == raw.resolve():
        raise PrepareError(f"--out {out}: is the raw folder itself; choose a separate output folder")
    if preparer.kind == "arrays":
        return prepare_arrays(dataset, preparer, raw, out, log)
    out.mkdir(parents=True, exist_ok=True)
    opts = preparer.options
    plan = preparer.plan(raw)
    versions = library_versions()  # needs PyAV: after the layout checks, which do not
    key = clip_key(dataset, opts, versions)
    layout = preparer.layout()
    records = ClipRecords(out)
    shutil.rmtree(out / STATE_DIR / "staging", ignore_errors=True)  # leftovers of a killed run

    todo: list[ClipJob] = []
    done: dict[str, dict[str, Any]] = {}
    present = []
    for job in plan.jobs:
        absent = [(p, problem) for p in job.sources() if (problem := path_problem(p, "file"))]
        if absent:
            path, problem = absent[0]
            plan.bad.append((job.name, f"missing from the download: {path}" if problem == "does not exist"
                             else f"download file {str(path)!r} {problem}"))
            remove_outputs(out, layout, job.name)
        else:
            present.append(job)
    plan.jobs = present
    if plan.bad and not skip_bad:
        raise bad_clip_error(*plan.bad[0])
    for job in plan.jobs:
        signature = source_signature(job.sources())
        record = records.reusable(job, key, signature)
        if record is not None and ("skipped" not in record or skip_bad):
            done[job.name] = record
        else:
            todo.append(job)
    reused = sum("skipped" not in r for r in done.values())
    signatures = {job.name: source_signature(job.sources()) for job in todo}

    jobs_by_name = {job.name: job for job in plan.jobs}

    def finish(name: str, outcome: dict[str, Any] | str) -> None:
        """Record one finished clip (in this process); stop at a bad one without ``skip_bad``."""
        job = jobs_by_name[name]
        record: dict[str, Any] = {"name": name, "key": key, "sources": signatures[name],
                                  "split": job.split, "label": job.label}
        if isinstance(outcome, str):
            remove_outputs(out, layout, name)
            record["skipped"] = outcome
        else:
            record.update(outcome)
        records.save(record)
        done[name] = record
        if isinstance(outcome, str) and not skip_bad:
            raise bad_clip_error(name, outcome)

    run_jobs(todo, out, layout, opts, workers, progress, finish)

    ok = [job for job in plan.jobs if job.name in done and "skipped" not in done[job.name]]
    skipped = plan.bad + [(job.name, done[job.name]["skipped"]) for job in plan.jobs
                          if job.name in done and "skipped" in done[job.name]]
    if not ok:
        raise PrepareError(f"{raw}: no clip could be prepared ({len(skipped)} skipped; see {out / SKIPPED})"
                           if skipped else f"{raw}: found no clips; expected the layout of "
                           f"docs/datasets/{dataset}.md")
    write_skipped(out, skipped)
    lists = {rel: text.encode() for rel, text in preparer.lists(ok).items()}
    for rel, data in lists.items():
        write_atomic(out / rel, data)
    counts: dict[str, int] = {}
    for job in ok:
        counts[job.split] = counts.get(job.split, 0) + 1
    manifest = {
        "format": FORMAT_VERSION, "dataset": dataset, "g2d_version": g2d_version(), "versions": versions,
        "python": sys.version.split()[0], "options": opts.model_dump(mode="json"), "key": key,
        "source": str(raw.resolve()), "notes": plan.notes, "counts": counts,
        "loader_options": preparer.loader_options(),
        "lists": {rel: hashlib.sha256(data).hexdigest() for rel, data in lists.items()},
        "skipped": [{"clip": c, "reason": r} for c, r in skipped],
        "clips": {name: done[name] for name in sorted(done)},
    }
    write_atomic(out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
    shutil.rmtree(out / STATE_DIR, ignore_errors=True)
    result = PrepareResult(out, len(ok) - reused, reused, skipped, counts, preparer.loader_options())
    if log is not None:
        log(result.summary())
    return result


def prepare_arrays(dataset: str, preparer: Preparer, raw: Path, out: Path,
                   log: Callable[[str], None] | None) -> PrepareResult:
    """A one-pass conversion (feature pickles -> .npz): every file written atomically, then
    prepare.json with their SHA-256."""
    files, notes = preparer.convert(raw)
    out.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        write_atomic(out / rel, data)
    manifest = {
        "format": FORMAT_VERSION, "dataset": dataset, "g2d_version": g2d_version(),
        "versions": {"numpy": __import__("numpy").__version__}, "python": sys.version.split()[0],
        "options": preparer.options.model_dump(mode="json"), "source": str(raw.resolve()), "notes": notes,
        "counts": notes.get("sizes", {}), "loader_options": preparer.loader_options(),
        "lists": {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()},
        "skipped": [], "clips": {},
    }
    write_atomic(out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
    result = PrepareResult(out, sum(manifest["counts"].values()), 0, [], manifest["counts"],
                           preparer.loader_options(), unit="sample")
    if log is not None:
        log(result.summary())
    return result


def bad_clip_error(clip: str, reason: str) -> PrepareError:
    return PrepareError(f"clip {clip!r}: {reason}; rerun with --skip-bad to skip bad clips (each is "
                        f"listed in {SKIPPED}) — the clips already prepared are kept")


def run_jobs(jobs: list[ClipJob], out: Path, layout: Layout, options: MediaOptions, workers: int | None,
             progress: bool, finish: Callable[[str, dict[str, Any] | str], None]) -> None:
    """Prepare ``jobs`` in this process (1 worker) or a pool, at most 2 per worker in flight (so
    memory stays bounded); call ``finish`` in this process as each ends, with a progress bar."""
    from tqdm import tqdm

    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(jobs), unit="clip", desc="prepare", disable=not progress, file=sys.stderr)
    try:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                finish(*run_clip(job, out, layout, options))
                bar.update()
            return
        pending: set[Future] = set()
        queue = iter(jobs)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            try:
                while True:
                    while len(pending) < 2 * workers:
                        job = next(queue, None)
                        if job is None:
                            break
                        pending.add(pool.submit(run_clip, job, out, layout, options))
                    if not pending:
                        break
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        finish(*future.result())
                        bar.update()
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    finally:
        bar.close()


def write_skipped(out: Path, skipped: list[tuple[str, str]]) -> None:
    """``skipped.csv``: ``clip,reason`` per skipped clip (header only when none was skipped)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["clip", "reason"])
    writer.writerows(skipped)
    write_atomic(out / SKIPPED, text.getvalue().encode())


def g2d_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("g2d")
    except PackageNotFoundError:
        return "unknown"


def read_manifest(path: str | Path) -> dict[str, Any]:
    """A prepare.json (``path`` is the file or the folder holding it)."""
    path = Path(path).expanduser()
    path = path / MANIFEST if path.is_dir() else path
    if not path.is_file():
        raise PrepareError(f"{path}: no {MANIFEST} here; expected a folder written by g2d prepare")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PrepareError(f"{path}: not a readable {MANIFEST} ({err})") from None
    if not isinstance(manifest, dict) or "clips" not in manifest:
        raise PrepareError(f"{path}: not a {MANIFEST} written by g2d prepare (no 'clips')")
    return manifest


def recorded_files(manifest: dict[str, Any]) -> dict[str, str]:
    """Every output file the manifest records: relative path -> sha256."""
    files = dict(manifest.get("lists", {}))
    for record in manifest["clips"].values():
        files.update(record.get("files", {}))
    return files


@dataclass
class VerifyReport:
    """``--verify``: files whose bytes differ from prepare.json, files missing, unrecorded files
    inside a clip's frame folder (the loader would read them)."""

    checked: int
    changed: list[str]
    missing: list[str]
    extra: list[str]

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra)

    def lines(self) -> list[str]:
        out = [f"changed: {p}" for p in self.changed] + [f"missing: {p}" for p in self.missing]
        out += [f"unrecorded: {p}" for p in self.extra]
        verdict = "all match" if self.ok else (f"{len(self.changed)} changed, {len(self.missing)} missing, "
                                              f"{len(self.extra)} unrecorded")
        return out + [f"checked {self.checked} file(s) against prepare.json: {verdict}"]


def verify(folder: str | Path) -> VerifyReport:
    """Recompute the SHA-256 of every file prepare.json records and compare."""
    folder = Path(folder).expanduser()
    manifest = read_manifest(folder)
    files = recorded_files(manifest)
    changed, missing = [], []
    for rel, digest in sorted(files.items()):
        path = folder / rel
        if not path.is_file():
            missing.append(rel)
        elif file_sha256(path) != digest:
            changed.append(rel)
    folders = {str(Path(rel).parent) for rel in files if rel.endswith(".jpg")}
    extra = sorted(f"{d}/{p.name}" for d in folders if (folder / d).is_dir()
                   for p in (folder / d).iterdir() if f"{d}/{p.name}" not in files)
    return VerifyReport(len(files), changed, missing, extra)


def compare(mine: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """What differs between two prepare.json records: data set, options, library versions, and
    output files (by SHA-256). Empty when both machines wrote the same bytes."""
    lines = []
    for key in ("dataset", "format"):
        if mine.get(key) != other.get(key):
            lines.append(f"{key}: {mine.get(key)!r} here, {other.get(key)!r} there")
    for section in ("options", "versions"):
        a, b = mine.get(section, {}), other.get(section, {})
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                lines.append(f"{section[:-1]} {name}: {a.get(name)!r} here, {b.get(name)!r} there")
    a, b = recorded_files(mine), recorded_files(other)
    differ = sorted(p for p in set(a) & set(b) if a[p] != b[p])
    only_here, only_there = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    lines += [f"file differs: {p}" for p in differ[:20]]
    if len(differ) > 20:
        lines.append(f"... and {len(differ) - 20} more differing files")
    if only_here or only_there:
        lines.append(f"files only here: {len(only_here)}; only there: {len(only_there)}"
                     + (f" (e.g. {(only_here or only_there)[0]})"))
    if not lines:
        lines.append(f"identical: same options, versions and {len(a)} file checksums")
    return lines


def read_lines(path: Path, what: str) -> list[str]:
    """Non-blank lines of a text list file; PrepareError naming it when absent."""
    require_file(path, f"{what}: file", PrepareError)
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    except UnicodeDecodeError as err:
        raise PrepareError(f"{what}: {str(path)!r} is not UTF-8 text ({err})") from None


def stable_rank(items: Iterable[str], seed: int) -> list[str]:
    """``items`` in a seeded order that depends on nothing but the seed and the names (SHA-256), so
    every machine and library version makes the same split."""
    return sorted(items, key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue()



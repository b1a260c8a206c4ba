"""File-backed splits, and the on-disk cache of their preprocessed inputs.

A :class:`FileDataset` holds one :class:`Record` per sample (id, per-modality source: a file path
or inline numbers, target) and a deterministic ``decode`` per modality (wav → spectrogram, jpg →
normalised array). When it is built every sample is decoded once, so a missing, unreadable or
truncated file fails now and names its file and line (or, with ``skip_bad``, is dropped, counted
and listed). With a cache folder the decoded arrays are written there once — one ``.npy`` per
modality, memory-mapped on read, published atomically (temporary folder + rename) under a key
made of every source's path, size and mtime, the targets and the exact preprocessing — so later
epochs and later runs read arrays instead of decoding files. Random augmentation (crop, flip) is
applied per batch on top of the stored arrays and is never cached.
"""
from __future__ import annotations

import errno
import hashlib
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from g2d import io
from g2d.data.base import Batch, DatasetInfo, MultimodalDataset
from g2d.data.preprocessed_store import (array_record, building, entry_problem, mark_in_use, prune,
                                         read_entry_manifest, remove_stale_staging)
from g2d.data.validate import BadSamples
from g2d.paths import access_problem
from g2d.validation import DataError

FORMAT_VERSION = 2  # 2: per-array shape, SHA-256 and fingerprint in the manifest; constant modalities
Decoder = Callable[[Any], np.ndarray]  # source -> stored array (deterministic)
Finish = Callable[[torch.Tensor, bool], torch.Tensor]  # (batch of stored arrays, augment) -> inputs


def default_cache_root() -> Path:
    """``$G2D_CACHE_DIR/preprocessed``, else ``$XDG_CACHE_HOME/g2d/preprocessed`` or ``~/.cache/…``."""
    if os.environ.get("G2D_CACHE_DIR"):
        return Path(os.environ["G2D_CACHE_DIR"]) / "preprocessed"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "g2d" / "preprocessed"


@dataclass(frozen=True)
class TextCell:
    """Inline text as a sample's source (a manifest's text column)."""

    text: str


@dataclass
class Record:
    """One sample as its source describes it; ``where`` locates it for error messages."""

    id: str
    sources: dict[str, Any]  # modality -> Path (a file), np.ndarray (inline numbers) or TextCell
    target: float
    where: str


@dataclass(frozen=True)
class Pipeline:
    """How each modality is decoded and finished; ``description`` is the exact preprocessing."""

    decoders: dict[str, Decoder]
    stored_shapes: dict[str, tuple[int, ...]]
    description: str
    finishers: dict[str, Finish] | None = None


def source_key(source: Any, contents: bool = False) -> str:
    """Identity of one source: inline numbers by content; a file by path, size and mtime; a folder
    (frames) by the name, size and mtime of every file in it. Size and mtime miss a file rewritten
    with the same size and mtime (a copy tool that keeps times): ``contents`` hashes every file's
    bytes instead (option ``hash_contents``; slower, reads every file once per run)."""
    if isinstance(source, np.ndarray):
        return hashlib.sha256(str(source.shape).encode() + np.ascontiguousarray(source, np.float64).tobytes()).hexdigest()
    if isinstance(source, TextCell):
        return hashlib.sha256(source.text.encode()).hexdigest()
    path = Path(source)
    if path.is_dir():
        entries = folder_entries(path)
        if contents:
            return f"{path}|" + ";".join(f"{n}:{io.file_sha256(path / n) if size >= 0 else 'unreachable'}"
                                         for n, size, _ in entries)
        return f"{path}|" + ";".join(f"{n}:{size}:{mtime}" for n, size, mtime in entries)
    if contents:
        return f"{path}|{io.file_sha256(path)}"
    st = path.stat()
    return f"{path}|{st.st_size}|{st.st_mtime_ns}"


def folder_entries(path: Path) -> list[tuple[str, int, int]]:
    """``(name, size, mtime)`` of each file in a folder (a sample's frames), sorted. An entry that
    cannot be reached (a symbolic link loop) keeps its name with size and mtime -1: the key stays
    stable, and the decoder names the problem as that sample's error instead of a traceback here."""
    entries = []
    for entry in os.scandir(path):
        try:
            if entry.is_file():
                st = entry.stat()
                entries.append((entry.name, st.st_size, st.st_mtime_ns))
        except OSError:
            entries.append((entry.name, -1, -1))
    return sorted(entries)


def fingerprint_records(records: Sequence[Record], description: str, contents: bool = False) -> str:
    digest = hashlib.sha256(f"v{FORMAT_VERSION}|{description}".encode())
    for r in records:
        parts = [r.id, repr(float(r.target))] + [f"{m}={source_key(s, contents)}" for m, s in sorted(r.sources.items())]
        digest.update(("\x1f".join(parts) + "\n").encode())
    return digest.hexdigest()[:20]


def drop_missing(records: list[Record], bad: BadSamples) -> list[Record]:
    """Report every sample whose file cannot be reached — missing, a symbolic link loop, a broken
    link, no permission, named as what it is (checked before any decoding; a folder where a file
    is expected, or the reverse, is the decoder's to name, as only it knows which it reads)."""
    kept = []
    for r in records:
        problems = [(s, p) for s in r.sources.values() if isinstance(s, Path) and (p := access_problem(s))]
        if problems:
            source, problem = problems[0]
            bad.report(r.where, f"file {str(source)!r} {problem}")
        else:
            kept.append(r)
    return kept


class _DecodeAll(torch.utils.data.Dataset):
    """Decodes one record per item (for worker processes); errors come back as text."""

    def __init__(self, records: Sequence[Record], pipeline: Pipeline) -> None:
        self.records, self.pipeline = records, pipeline

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[int, dict[str, np.ndarray] | None, str | None]:
        record = self.records[i]
        try:
            out = {m: decode_checked(record, m, decode, self.pipeline.stored_shapes[m])
                   for m, decode in self.pipeline.decoders.items()}
            return i, out, None
        except DataError as err:
            return i, None, str(err)


def describe_source(source: Any) -> str:
    """A sample's source as an error message shows it: the file's path, or what the inline value is."""
    if isinstance(source, (str, Path)):
        return f"file {str(source)!r}"
    if isinstance(source, TextCell):
        return "its text"
    return "its inline numbers"


def decode_checked(record: Record, modality: str, decode: Decoder, expected: tuple[int, ...]) -> np.ndarray:
    """One modality of one sample decoded and checked (shape, finite). Any error of the decoder —
    g2d's own, or one Pillow, soundfile, numpy or torch raises on this file — becomes this sample's
    DataError naming the file and the reason, so ``skip_bad`` can drop it and nothing escapes as a
    traceback."""
    source = record.sources[modality]
    try:
        arr = np.asarray(decode(source), dtype=np.float32)
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - a third-party decoder's failure on this one file
        reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else "no message"
        raise DataError(f"modality {modality!r}: decoding {describe_source(source)} failed "
                        f"({type(err).__name__}: {reason})") from None
    if arr.shape != expected:
        raise DataError(f"modality {modality!r}: expected shape {expected}, got {arr.shape} "
                        f"(from {describe_source(source)})")
    if not np.isfinite(arr).all():
        raise DataError(f"modality {modality!r}: found NaN or Inf in {describe_source(source)}; "
                        f"inputs must be finite")
    return arr


def _identity(x: Any) -> Any:
    return x


def decode_all(records: Sequence[Record], pipeline: Pipeline, bad: BadSamples, workers: int,
               sink: Callable[[int, dict[str, np.ndarray]], None] | None = None,
               name: str = "data") -> tuple[list[int], list[str]]:
    """Decode every record once (``workers`` processes); returns the indices that decoded cleanly
    and the modalities whose every decoded sample is the same (constant).
    On a terminal, a pass that takes more than two seconds shows a progress bar naming ``name``."""
    from tqdm.auto import tqdm

    loader = torch.utils.data.DataLoader(_DecodeAll(records, pipeline), batch_size=None,
                                         num_workers=workers, collate_fn=_identity)
    good, errors, constant = [], {}, ConstantModalities()
    bar = tqdm(loader, total=len(records), desc=f"preprocessing {name}", unit="sample", leave=False,
               delay=2.0, file=sys.stderr, disable=not sys.stderr.isatty())
    for i, arrays, error in bar:
        if error is None:
            good.append(i)
            constant.see(arrays)
            if sink is not None:
                sink(i, arrays)
        else:
            errors[i] = error
    for i in sorted(errors):
        bad.report(records[i].where, errors[i])
    return good, constant.names()


class ConstantModalities:
    """Tracks, over the decoded samples, which modalities never differ from their first sample."""

    def __init__(self) -> None:
        self.first: dict[str, np.ndarray] = {}
        self.varies: set[str] = set()
        self.count = 0

    def see(self, arrays: dict[str, np.ndarray]) -> None:
        self.count += 1
        for m, a in arrays.items():
            ref = self.first.setdefault(m, a)
            if m not in self.varies and ref is not a and not np.array_equal(ref, a):
                self.varies.add(m)

    def names(self) -> list[str]:
        """The modalities identical in every sample (none when fewer than two samples decoded)."""
        return sorted(set(self.first) - self.varies) if self.count > 1 else []


def build_cache_folder(folder: Path, records: Sequence[Record], pipeline: Pipeline, bad: BadSamples,
                       workers: int, name: str = "data", replace: bool = False) -> None:
    """Decode every record into memory-mapped arrays in a temporary folder, then rename it. With
    ``replace`` (a damaged entry is rebuilt) the new folder replaces the old one; otherwise another
    process that finished the same entry first wins."""
    with io.staged_folder(folder, replace=replace) as tmp, building(tmp):
        arrays = {m: np.lib.format.open_memmap(tmp / f"{m}.npy", mode="w+", dtype=np.float32,
                                               shape=(len(records), *shape))
                  for m, shape in pipeline.stored_shapes.items()}
        for m in arrays:
            reserve_space(tmp / f"{m}.npy")

        def sink(i: int, decoded: dict[str, np.ndarray]) -> None:
            for m, a in decoded.items():
                arrays[m][i] = a

        good, constant = decode_all(records, pipeline, bad, workers, sink, name)
        for a in arrays.values():
            a.flush()
        del arrays
        io.write_json(tmp / "manifest.json", {
            "format": FORMAT_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "made_by": f"{' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300]} (in {os.getcwd()})",
            "transform": pipeline.description, "num_records": len(records), "good": good,
            "skipped": bad.skipped, "constant": constant,
            "shapes": {m: list(s) for m, s in pipeline.stored_shapes.items()},
            "arrays": {f"{m}.npy": array_record(tmp / f"{m}.npy") for m in pipeline.stored_shapes}})


def reserve_space(path: Path) -> None:
    """Allocate a memory-mapped file's blocks now: on a full disk this is an OSError (ENOSPC, reported
    with the path) instead of a SIGBUS when a page of the mapping is first written."""
    if not hasattr(os, "posix_fallocate"):
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as err:
        if err.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            return  # the file system cannot pre-allocate; the mapping still works
        raise
    finally:
        os.close(fd)


class FileDataset(MultimodalDataset):
    """A split read from files; arrays come from the preprocessed cache when it has one."""

    def __init__(self, records: Sequence[Record], pipeline: Pipeline, info: DatasetInfo, *,
                 augment: bool = False, cache_folder: Path | None = None,
                 rows: Sequence[int] | None = None, source_fingerprint: str | None = None) -> None:
        self.records, self.pipeline, self.info = list(records), pipeline, info
        self.augment = augment
        self.random_transform = augment and bool(pipeline.finishers)
        self.transform_description = pipeline.description + ("; random crop + horizontal flip (train)"
                                                              if self.random_transform else "")
        self.cache_folder = cache_folder
        self.rows = list(rows) if rows is not None else list(range(len(self.records)))  # record -> cache row
        dtype = torch.long if info.task == "classification" else torch.float32
        self.target = torch.tensor([r.target for r in self.records], dtype=dtype)
        self._arrays: dict[str, np.ndarray] | None = None
        self.constant_modalities: list[str] = []  # modalities identical in every sample (set by the builder)
        self.lease: Any = None  # the preprocessed-cache entry's in-use lock (see preprocessed_store)
        sources = source_fingerprint or fingerprint_records(self.records, pipeline.description)
        self._fingerprint = hashlib.sha256(f"{sources}|augment={augment}".encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.records)

    def __getstate__(self) -> dict[str, Any]:  # worker processes re-open the memory maps
        return {**self.__dict__, "_arrays": None, "lease": None}  # the parent holds the lease

    def arrays(self) -> dict[str, np.ndarray] | None:
        if self.cache_folder is not None and self._arrays is None:
            self._arrays = {m: np.load(self.cache_folder / f"{m}.npy", mmap_mode="r")
                            for m in self.pipeline.stored_shapes}
        return self._arrays

    def stored(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        arrays = self.arrays()
        if arrays is not None:
            rows = np.asarray([self.rows[i] for i in indices])
            return {m: torch.from_numpy(np.ascontiguousarray(a[rows])) for m, a in arrays.items()}
        shapes = self.pipeline.stored_shapes
        return {m: torch.from_numpy(np.stack([decode_checked(self.records[i], m, decode, shapes[m]) for i in indices]))
                for m, decode in self.pipeline.decoders.items()}

    def get_batch(self, indices: Sequence[int]) -> Batch:
        inputs = self.stored(indices)
        for m, finish in (self.pipeline.finishers or {}).items():
            inputs[m] = finish(inputs[m], self.augment)
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        return Batch(inputs, self.target[idx], idx)

    def get_item(self, i: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        batch = self.get_batch([i])
        return {m: x[0] for m, x in batch.inputs.items()}, batch.target[0]

    def targets(self) -> torch.Tensor:
        return self.target

    def fingerprint(self) -> str:
        return self._fingerprint


def build_file_dataset(records: list[Record], pipeline: Pipeline, info: DatasetInfo, bad: BadSamples, *,
                       name: str, cache_root: Path | None, workers: int = 0,
                       augment: bool = False, hash_contents: bool = False,
                       max_cache_bytes: int | None = None) -> FileDataset:
    """Check files, decode everything once (into the cache when ``cache_root`` is set), drop bad
    samples when ``bad.skip_bad``, and return the split. After building a new cache entry, the
    least recently used entries not in use are evicted until the cache fits ``max_cache_bytes``."""
    records = drop_missing(records, bad)
    if not records:
        raise DataError(f"{name}: found an empty split (0 usable samples); every split needs at least one")
    if cache_root is None:
        good, constant = decode_all(records, pipeline, bad, workers, name=name)
        kept = [records[i] for i in good]
        sources = fingerprint_records(kept, pipeline.description, True) if hash_contents else None
        dataset = FileDataset(kept, pipeline, info, augment=augment, source_fingerprint=sources)
        dataset.constant_modalities = constant
        return _nonempty(dataset, name)
    key = fingerprint_records(records, pipeline.description, hash_contents)
    folder = Path(cache_root) / f"{name.replace('/', '-')}-{key}"
    built = open_or_build_entry(folder, records, pipeline, workers, name)
    lease = mark_in_use(folder)
    if built and max_cache_bytes is not None:
        prune(Path(cache_root), max_bytes=max_cache_bytes)
    manifest = read_entry_manifest(folder) or {}
    for entry in manifest["skipped"]:  # replay: raises unless skip_bad
        bad.report(entry["where"], entry["problem"])
    good = manifest["good"]
    kept = [records[i] for i in good]
    same = len(kept) == len(records)
    sources = key if same else (fingerprint_records(kept, pipeline.description, True) if hash_contents else None)
    dataset = FileDataset(kept, pipeline, info, augment=augment, cache_folder=folder, rows=good,
                          source_fingerprint=sources)
    dataset.lease = lease  # the entry stays "in use" (never pruned) while this split is alive
    dataset.constant_modalities = list(manifest.get("constant", []))
    return _nonempty(dataset, name)


def open_or_build_entry(folder: Path, records: Sequence[Record], pipeline: Pipeline, workers: int,
                        name: str) -> bool:
    """Make sure ``folder`` holds a sound entry for ``records``: build it when absent; when its
    manifest or an array is damaged (truncated, zeroed, replaced: :func:`entry_problem`), say so and
    rebuild it in place. Staging folders that killed builds left are removed first. True when built."""
    shapes, problem = pipeline.stored_shapes, None
    if (folder / "manifest.json").exists():
        problem = entry_problem(folder, shapes, len(records), FORMAT_VERSION)
        if problem is None:
            return False
        warnings.warn(f"preprocessed-input cache entry {folder} is damaged ({problem}); rebuilding it")
    remove_stale_staging(folder.parent)
    try:
        build_cache_folder(folder, records, pipeline, BadSamples(True), workers, name, replace=problem is not None)
    except OSError as err:
        if problem is None or isinstance(err, io.DiskFullError):
            raise
        raise DataError(f"preprocessed-input cache entry {folder} is damaged ({problem}) and could not be "
                        f"rebuilt ({err}); delete that folder, or set data.options.cache_dir to a writable "
                        f"folder") from None
    problem = entry_problem(folder, shapes, len(records), FORMAT_VERSION)
    if problem is not None:
        raise DataError(f"preprocessed-input cache entry {folder} is damaged right after it was built ({problem}); "
                        f"check the disk, delete that folder, or set data.options.cache_dir elsewhere")
    return True


def _nonempty(ds: FileDataset, name: str) -> FileDataset:
    if len(ds) == 0:
        raise DataError(f"{name}: found an empty split (every sample was bad and skipped)")
    return ds

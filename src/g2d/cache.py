"""Teacher-output cache: every training sample's teacher logits and features, computed once.

Layout of a cache folder: ``manifest.json`` (what the cache was made from) and, per modality,
``<modality>.logits.npy`` (N, C) and ``<modality>.features.npy`` (N, D), float32, and ``targets.npy``
(N,), the train split's targets as float32 (caches built before it was written work without it:
each step then scores the teachers against its batch's targets). Arrays are
memory-mapped, so a step reads only its batch's rows and a VGGSound-sized cache needs little RAM.
The manifest records the teachers' weight hashes, the train split's fingerprint and the input
transform; :func:`open_cache` refuses a cache made from anything else and says what changed.

Integrity: outputs are checked finite when the cache is built. The manifest records each array's
shape, its SHA-256 and a cheap fingerprint (SHA-256 of the file size and 64 evenly spaced 4 KiB
blocks). :func:`open_cache` checks every array's shape against the manifest and its fingerprint
(a replaced, truncated or zeroed file is refused, naming it); the full hash, which reads every
byte (about 1.2 s for a 1.25 GiB VGGSound-sized cache, > 2 % of such an epoch), is checked by
:func:`verify_cache` (``g2d cache --verify``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from g2d import io, ops
from g2d.io import file_fingerprint, file_sha256
from g2d.data.base import Batch, MultimodalDataset
from g2d.objectives import TeacherOutputs
from g2d.runtime import autocast
from g2d.scoring import teacher_confidence
from g2d.teachers import Teacher, teacher_from_module
from g2d.data.loader import make_loader
from g2d.validation import CacheMismatchError, G2DError

FORMAT_VERSION = 2  # 2: per-array shape, SHA-256 and fingerprint in the manifest
TARGETS = "targets"  # targets.npy: per-sample teacher confidence ρ is made from it once, when the cache is opened


def cache_identity(teachers: dict[str, Teacher], train: MultimodalDataset) -> dict[str, Any]:
    """What a cache's contents depend on; any difference makes it invalid."""
    return {"format": FORMAT_VERSION,
            "teachers": {m: t.card["weights_sha256"] for m, t in teachers.items()},
            "train_fingerprint": train.fingerprint(),
            "transform": train.transform_description,
            "num_samples": len(train)}


@torch.no_grad()
def build_cache(teachers: dict[str, Teacher], train: MultimodalDataset, out_dir: str | Path,
                device: torch.device, batch_size: int = 256, precision: str = "fp32",
                num_workers: int = 0) -> Path:
    """Run each teacher once over the train split (eval mode, in index order) and store outputs."""
    if train.random_transform:
        raise G2DError("the training transform is random (augmentation): cached teacher outputs would "
                       "not match what the student sees; teachers run online instead")
    out_dir = Path(out_dir)
    n = len(train)
    arrays: dict[str, np.ndarray] = {}
    targets: np.ndarray | None = np.zeros(n, dtype=np.float32)
    models = {m: t.model.to(device).eval() for m, t in teachers.items()}
    for batch in make_loader(train, batch_size, shuffle=False, num_workers=num_workers):
        batch = batch.to(device)
        idx = batch.index.cpu().numpy()
        if targets is not None and batch.target.numel() == len(idx):  # one target per sample (else: no ρ column)
            targets[idx] = batch.target.float().reshape(len(idx)).cpu().numpy()
        else:
            targets = None
        with autocast(device, precision):
            for m, model in models.items():
                out = model({m: batch.inputs[m]}, masks=batch.masks)
                for kind, value in (("logits", out.logits), ("features", out.features[m])):
                    key = f"{m}.{kind}"
                    if key not in arrays:
                        arrays[key] = np.zeros((n, value.shape[1]), dtype=np.float32)
                    arrays[key][idx] = value.float().cpu().numpy()
    for key, arr in arrays.items():
        check_finite_outputs(key, arr)
    if targets is not None:
        arrays[TARGETS] = targets
    manifest = {**cache_identity(teachers, train), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "shapes": {k: list(v.shape) for k, v in arrays.items()}}
    _write_folder_atomically(out_dir, arrays, manifest)
    return out_dir


def check_finite_outputs(key: str, arr: np.ndarray) -> None:
    """Refuse to cache NaN/Inf teacher outputs (a diverged teacher), naming the first sample."""
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if len(bad):
        modality, kind = key.split(".", 1)
        raise G2DError(f"teacher {modality!r} gives non-finite {kind} (NaN or Inf) for {len(bad)} training "
                       f"sample(s), first sample {int(bad[0])}; the cache was not written. Retrain the "
                       f"teacher (e.g. with a smaller teachers.optim.lr)")


def _write_folder_atomically(out_dir: Path, arrays: dict[str, np.ndarray], manifest: dict[str, Any]) -> None:
    with io.staged_folder(out_dir) as tmp:
        integrity = {}
        for key, arr in arrays.items():
            np.save(tmp / f"{key}.npy", arr)
            integrity[f"{key}.npy"] = {"shape": list(arr.shape), "dtype": str(arr.dtype),
                                       "sha256": file_sha256(tmp / f"{key}.npy"),
                                       "fingerprint": file_fingerprint(tmp / f"{key}.npy")}
        io.write_json(tmp / "manifest.json", {**manifest, "arrays": integrity})


RESIDENT_BYTES = 256 * 2**20  # caches up to this size are held on the training device


@dataclass
class TeacherCache:
    """Teacher outputs by sample index; :meth:`lookup` gathers a batch's rows.

    A cache of at most ``resident_bytes`` (default :data:`RESIDENT_BYTES`) is copied once onto the
    training device, stacked (M, N, ·), so a step's lookup is one index on the device (no per-step
    host gather, no host-to-device copy); a larger one stays memory-mapped and a step reads only its
    batch's rows. Both give the same numbers. What never changes is made once for the resident
    cache and read with the rows: the teachers' T = 1 log-softmax and, given the split's ``targets``
    (and ``task``), each sample's teacher confidence ρ (:func:`g2d.scoring.teacher_confidence`)."""

    path: Path
    logits: dict[str, np.ndarray]
    features: dict[str, np.ndarray]
    device: torch.device
    resident_bytes: int = RESIDENT_BYTES
    targets: np.ndarray | None = None  # (N,) the train split's targets
    task: str = "classification"

    def __post_init__(self) -> None:
        self._stack_features = _same_width(self.features)
        # resident: per sample [logits | T = 1 log-softmax | ρ] (M, N, 2C (+ 1)), one index per step; features
        # stacked (M, N, D) when the widths agree, else per modality
        self._resident: tuple[torch.Tensor, torch.Tensor | dict[str, torch.Tensor]] | None = None
        if self.nbytes <= self.resident_bytes:
            stack = torch.from_numpy(np.stack(list(self.logits.values()))).to(self.device)
            features = (torch.from_numpy(np.stack(list(self.features.values()))).to(self.device)
                        if self._stack_features else
                        {m: torch.from_numpy(np.array(a)).to(self.device) for m, a in self.features.items()})
            self._resident = (self._per_sample(stack), features)

    def _per_sample(self, stack: torch.Tensor) -> torch.Tensor:
        """[logits | their T = 1 log-softmax | ρ when the targets are known] (M, N, 2C (+ 1))."""
        whole = TeacherOutputs(dict(zip(self.logits, stack.unbind())), {}, logit_stack=stack)
        whole.set_log_probs(1.0, ops.log_softmax(stack.float()))
        columns = [stack, whole.log_probs(1.0)]
        if self.targets is not None:
            target = torch.from_numpy(np.array(self.targets)).to(self.device)
            columns.append(teacher_confidence(whole, tuple(self.logits), target, self.task).float().unsqueeze(-1))
        return torch.cat(columns, -1).contiguous()

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in [*self.logits.values(), *self.features.values()])

    @property
    def resident(self) -> bool:
        """Whether the cache is held on the training device (else memory-mapped)."""
        return self._resident is not None

    def lookup(self, batch: Batch) -> TeacherOutputs:
        """The batch's rows of every array; the logits stacked (M, B, C), the features stacked
        (M, B, D) when every modality has the same width (per-modality views share the stack)."""
        log_probs = confidence = None
        if self._resident is not None:
            per_sample, features = self._resident
            idx = batch.index.to(self.device, non_blocking=True)
            rows, classes = per_sample.index_select(1, idx), next(iter(self.logits.values())).shape[1]
            logits, log_probs = rows[..., :classes], rows[..., classes:2 * classes]
            confidence = rows[..., 2 * classes] if rows.shape[-1] > 2 * classes else None
            picked = (features.index_select(1, idx) if isinstance(features, torch.Tensor) else
                      {m: f.index_select(0, idx) for m, f in features.items()})
        else:
            rows = batch.index.cpu().numpy()
            logits = self._to_device(_gather_stacked(list(self.logits.values()), rows))
            picked = (self._to_device(_gather_stacked(list(self.features.values()), rows)) if self._stack_features
                      else {m: self._to_device(_gather_stacked([a], rows))[0] for m, a in self.features.items()})
        stacked = isinstance(picked, torch.Tensor)
        out = TeacherOutputs(dict(zip(self.logits, logits.unbind())),
                             dict(zip(self.features, picked.unbind())) if stacked else picked,
                             logit_stack=logits, feature_stack=picked if stacked else None, confidence=confidence)
        if log_probs is not None:
            out.set_log_probs(1.0, log_probs)
        return out

    def lookup_indices(self, indices: torch.Tensor | Sequence[int]) -> TeacherOutputs:
        """:meth:`lookup` by the samples' indices in the training split (a loop of one's own)."""
        index = torch.as_tensor(indices, dtype=torch.long).cpu()
        if index.ndim != 1:
            raise ValueError(f"TeacherCache.lookup_indices: expected a 1-d sequence of sample indices, got shape "
                             f"{tuple(index.shape)}")
        rows = len(next(iter(self.logits.values())))
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= rows):
            raise IndexError(f"TeacherCache {self.path}: sample indices must lie in [0, {rows}) (the training "
                             f"split it was built from), got {int(index.min())}..{int(index.max())}")
        return self.lookup(Batch({}, torch.empty(0), index))

    @classmethod
    def build(cls, folder: str | Path, teachers: Mapping[str, "Teacher | torch.nn.Module"], data: MultimodalDataset,
              *, device: str | torch.device = "cpu", batch_size: int = 256) -> "TeacherCache":
        """Run each teacher once over ``data`` (the training split, index order) into ``folder`` and
        open the result. A teacher is a trained g2d :class:`~g2d.teachers.Teacher` (``api.load_teachers``)
        or any ``nn.Module`` mapping the modality's input to ``(logits, features)``."""
        device = torch.device(device)
        named = {m: t if isinstance(t, Teacher) else teacher_from_module(m, t) for m, t in teachers.items()}
        build_cache(named, data, folder, device, batch_size)
        return open_cache(folder, named, data, device)

    @classmethod
    def open(cls, folder: str | Path, *, device: str | torch.device = "cpu") -> "TeacherCache":
        """Open a cache folder (``RUN/cache``, or one :meth:`build` wrote), checking every array against
        its manifest (shape, fingerprint). :func:`open_cache` also checks it against the teachers and
        the data it must match."""
        path = Path(folder)
        manifest = read_manifest(path)
        modalities, rows = manifest.get("teachers"), manifest.get("num_samples")
        if not isinstance(modalities, dict) or not modalities or not isinstance(rows, int):
            raise CacheMismatchError(f"cache manifest {path / 'manifest.json'} records no teachers or sample "
                                     f"count; rebuild the cache with `g2d cache`")
        arrays = {kind: {m: open_array(path, f"{m}.{kind}.npy", manifest, rows) for m in modalities}
                  for kind in ("logits", "features")}
        return cls(path, arrays["logits"], arrays["features"], torch.device(device))

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        pin = self.device.type == "cuda"
        return (t.pin_memory() if pin else t).to(self.device, non_blocking=pin)


def _same_width(arrays: dict[str, np.ndarray]) -> bool:
    return len({a.shape[1:] for a in arrays.values()}) == 1


def _gather_stacked(arrays: list[np.ndarray], idx: np.ndarray) -> torch.Tensor:
    """Rows ``idx`` of each (N, D) array, stacked (len(arrays), B, D), read straight into one buffer."""
    out = np.empty((len(arrays), len(idx), *arrays[0].shape[1:]), dtype=np.float32)
    for k, a in enumerate(arrays):
        np.take(a, idx, axis=0, out=out[k])
    return torch.from_numpy(out)


def open_cache(path: str | Path, teachers: dict[str, Teacher], train: MultimodalDataset,
               device: torch.device, resident_bytes: int = RESIDENT_BYTES) -> TeacherCache:
    """Open a cache, checking it was made from exactly these teachers, data and transform, and that
    every array it needs has the manifest's shape and fingerprint."""
    path = Path(path)
    manifest = read_manifest(path)
    expected = cache_identity(teachers, train)
    changes = describe_changes(manifest, expected)
    if changes:
        raise CacheMismatchError(f"teacher-output cache {path} does not match this run and was not used:\n  "
                                 + "\n  ".join(changes) + "\nrebuild it with `g2d cache`")
    logits = {m: open_array(path, f"{m}.logits.npy", manifest, len(train)) for m in teachers}
    features = {m: open_array(path, f"{m}.features.npy", manifest, len(train)) for m in teachers}
    has_targets = f"{TARGETS}.npy" in (manifest.get("arrays") or {})  # absent from caches built before it
    targets = open_array(path, f"{TARGETS}.npy", manifest, len(train)) if has_targets else None
    return TeacherCache(path, logits, features, device, resident_bytes, targets=targets, task=train.info.task)


def read_manifest(path: Path) -> dict[str, Any]:
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise G2DError(f"no teacher-output cache at {path} (missing manifest.json); run `g2d cache` first")
    try:
        return io.read_json_object(manifest_path, "cache manifest")
    except G2DError as err:
        raise CacheMismatchError(f"{err}; rebuild the cache with `g2d cache`") from None


def open_array(path: Path, name: str, manifest: dict[str, Any], rows: int) -> np.ndarray:
    """Memory-map one cache array (never a pickle) after checking it against the manifest."""
    entry = manifest.get("arrays", {}).get(name) if isinstance(manifest.get("arrays"), dict) else None
    file = path / name
    if not isinstance(entry, dict) or not isinstance(entry.get("shape"), list):
        raise CacheMismatchError(f"cache manifest {path / 'manifest.json'} has no entry for {name}; "
                                 f"rebuild the cache with `g2d cache`")
    shape = tuple(entry["shape"])
    want = f"a float32 array of shape {shape}"
    if not file.is_file():
        raise CacheMismatchError(f"cache array {file} is missing; expected {want}; rebuild the cache with `g2d cache`")
    if entry.get("fingerprint") != file_fingerprint(file):
        raise CacheMismatchError(f"cache array {file} is not the file the cache was built with (its "
                                 f"fingerprint changed: replaced, truncated or overwritten); expected {want}; "
                                 f"rebuild the cache with `g2d cache`")
    try:
        arr = np.load(file, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise CacheMismatchError(f"cache array {file} is unreadable ({err}); expected {want}; "
                                 f"rebuild the cache with `g2d cache`") from None
    if not isinstance(arr, np.ndarray) or arr.shape != shape or arr.dtype != np.float32 or shape[:1] != (rows,):
        got = f"shape {getattr(arr, 'shape', '?')} {getattr(arr, 'dtype', '')}"
        raise CacheMismatchError(f"cache array {file}: expected {want} ({rows} training samples), got {got}; "
                                 f"rebuild the cache with `g2d cache`")
    return arr


def verify_cache(path: str | Path, teachers_dir: str | Path | None = None) -> list[str]:
    """Check every array's full SHA-256 against the manifest (reads every byte) and, with
    ``teachers_dir``, that the cache was built from the teacher weights now there (a stale cache);
    returns one line per check, and raises CacheMismatchError naming each that fails."""
    path = Path(path)
    manifest = read_manifest(path)
    stale = stale_teachers(manifest, Path(teachers_dir)) if teachers_dir is not None else []
    if stale:
        raise CacheMismatchError(f"teacher-output cache {path} is stale: it was built from other teacher weights "
                                 f"than those in {teachers_dir}:\n  " + "\n  ".join(stale)
                                 + "\nrebuild it with `g2d cache CONFIG --out RUN`")
    arrays = manifest.get("arrays")
    if not isinstance(arrays, dict) or not arrays:
        raise CacheMismatchError(f"cache manifest {path / 'manifest.json'} records no array hashes (format "
                                 f"{manifest.get('format')}); rebuild the cache with `g2d cache`")
    bad, lines = [], []
    for name, entry in sorted(arrays.items()):
        file = path / name
        digest = file_sha256(file) if file.is_file() else "missing"
        ok = isinstance(entry, dict) and digest == entry.get("sha256")
        lines.append(f"{name}: {'ok' if ok else 'CHANGED'} (sha256 {digest[:12]}…)")
        if not ok:
            bad.append(str(file))
    if bad:
        raise CacheMismatchError(f"teacher-output cache {path}: content differs from what was built for "
                                 f"{bad}; rebuild it with `g2d cache`")
    return lines


def stale_teachers(manifest: dict[str, Any], teachers_dir: Path) -> list[str]:
    """For each teacher the manifest records, how the weights in ``teachers_dir`` differ from those the
    cache was built from (their SHA-256 now, and their card's record); empty when they are the same."""
    recorded = manifest.get("teachers")
    if not isinstance(recorded, dict):
        return [f"the manifest records no teachers (got {recorded!r})"]
    lines = []
    for m, digest in sorted(recorded.items()):
        weights = teachers_dir / m / "model.safetensors"
        if not weights.is_file():
            lines.append(f"teacher {m!r}: no weights at {weights}")
            continue
        now = file_sha256(weights)
        if now != digest:
            lines.append(f"teacher {m!r}: cache built from weights sha256 {str(digest)[:12]}…, {weights} is {now[:12]}…")
    return lines


def describe_changes(stored: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    changes = []
    if stored.get("format") != expected["format"]:
        changes.append(f"cache format {stored.get('format')} != {expected['format']}")
    stored_t, expected_t = stored.get("teachers"), expected["teachers"]
    if not isinstance(stored_t, dict):
        return changes + [f"the manifest records no teachers (got {stored_t!r})"]
    for m in sorted(set(stored_t) | set(expected_t)):
        if m not in stored_t:
            changes.append(f"modality {m!r}: no outputs in the cache")
        elif m not in expected_t:
            continue  # a cache with more teachers than needed is fine
        elif stored_t[m] != expected_t[m]:
            changes.append(f"teacher {m!r}: weights changed (sha256 {stored_t[m][:12]}… -> {expected_t[m][:12]}…)")
    for key, label in (("train_fingerprint", "training data"), ("transform", "input transform"),
                       ("num_samples", "number of training samples")):
        if stored.get(key) != expected[key]:
            changes.append(f"{label} changed ({stored.get(key)!r} -> {expected[key]!r})")
    return changes

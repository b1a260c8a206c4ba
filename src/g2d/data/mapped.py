"""Splits read from arrays in place — memory-mapped ``.npy`` files, stored (uncompressed) ``.npz``
members, or arrays already in Python — so resident memory stays bounded by the batch.

A :class:`MappedArrayDataset` keeps each modality's source array as it was opened (never copied)
and the rows of it that form the split; :meth:`~MappedArrayDataset.get_batch` gathers a batch's
rows and converts them with the split's :class:`Standardise` — the same float operations, in the
same order, that the loaders used to apply to whole splits, so every sample is bit-for-bit what it
was. Scans over a whole split (finiteness checks, statistics, the fingerprint) read chunks of rows.
"""
from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from g2d.data.base import DatasetInfo, MultimodalDataset
from g2d.data.validate import bad_finite_rows
from g2d.validation import DataError

#: bytes of one chunk of rows in the whole-split scans
CHUNK_BYTES = 8 * 2**20


def row_chunks(n: int, row_bytes: int) -> Iterator[slice]:
    """Consecutive slices of ``range(n)``, each about :data:`CHUNK_BYTES` of rows."""
    step = max(1, CHUNK_BYTES // max(1, row_bytes))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def _row_bytes(array: np.ndarray) -> int:
    return int(array.dtype.itemsize * np.prod(array.shape[1:], dtype=np.int64))


def bad_rows_chunked(array: np.ndarray, as_float32: bool = False) -> np.ndarray:
    """Indices of samples (rows) holding NaN or Inf, read chunk by chunk; ``as_float32``: of the
    values converted to float32 (a float64 beyond float32's range counts as Inf)."""
    if not np.issubdtype(array.dtype, np.floating):
        return np.zeros(0, dtype=np.int64)
    with np.errstate(over="ignore"):  # an overflow to Inf is what this looks for
        found = [bad_finite_rows(array[part].astype(np.float32, copy=False) if as_float32 else array[part])
                 + part.start for part in row_chunks(array.shape[0], _row_bytes(array))]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def check_finite_chunked(array: np.ndarray, where: str) -> None:
    """No NaN/Inf in the array as float32 (what training reads); the message names the first bad
    sample (row) index."""
    rows = bad_rows_chunked(array, as_float32=True)
    if len(rows):
        raise DataError(f"{where}: found NaN or Inf in {len(rows)} sample(s), first at sample {int(rows[0])} "
                        f"(samples {rows[:5].tolist()}); inputs must be finite")


def scalar_moments(array: np.ndarray, rows: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation over every value of ``array[rows]`` as float32 (float64
    accumulation, two passes over chunks of rows)."""
    chunks = list(row_chunks(len(rows), _row_bytes(array) * 2))
    count = len(rows) * int(np.prod(array.shape[1:], dtype=np.int64))
    total = sum(float(np.sum(array[rows[c]].astype(np.float32), dtype=np.float64)) for c in chunks)
    mean = total / count
    squares = sum(float(np.sum(np.square(array[rows[c]].astype(np.float32).astype(np.float64) - mean)))
                  for c in chunks)
    return mean, (squares / count) ** 0.5


def feature_moments(array: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature float64 mean and std over ``array[rows]`` — exactly ``x.mean(0)`` and
    ``x.std(0)`` of ``x = array[rows].astype(float64)``, read in chunks (numpy sums a C-order
    axis-0 reduction row after row, which an accumulator seeded into each chunk reproduces; one
    feature per sample is summed pairwise, so that column is read whole)."""
    shape = array.shape[1:]
    width = int(np.prod(shape, dtype=np.int64))
    if width == 1:
        column = np.asarray(array[rows], dtype=np.float64)
        return column.mean(0), column.std(0)
    chunks = list(row_chunks(len(rows), width * 8))

    def rows_summed(transform) -> np.ndarray:
        acc = np.zeros((1, *shape))
        for c in chunks:
            acc = np.add.reduce(np.concatenate([acc, transform(array[rows[c]].astype(np.float64))]),
                                axis=0, keepdims=True)
        return acc[0]

    mean = rows_summed(lambda x: x) / len(rows)
    var = rows_summed(lambda x: np.square(x - mean)) / len(rows)
    return mean, np.sqrt(var)


@dataclass(frozen=True)
class Standardise:
    """``(x − mean) / std`` of a modality's raw rows, to float32. ``cast_first``: convert to float32
    before standardising (AV-MNIST), else after (in-memory arrays, computed in the promoted dtype)."""

    mean: float | np.ndarray = 0.0
    std: float | np.ndarray = 1.0
    cast_first: bool = False

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.cast_first:
            return (x.astype(np.float32, copy=False) - self.mean) / self.std
        return ((x - self.mean) / self.std).astype(np.float32, copy=False)


class MappedArrayDataset(MultimodalDataset):
    """A split as rows of per-modality source arrays, read per batch (see the module docstring)."""

    def __init__(self, sources: dict[str, np.ndarray], rows: np.ndarray, target: torch.Tensor, info: DatasetInfo,
                 transforms: dict[str, Standardise], transform_description: str = "identity") -> None:
        if len(rows) == 0:
            raise DataError("Found an empty split (0 samples); every split needs at least one sample")
        if len(rows) != int(target.shape[0]):
            raise DataError(f"Found {len(rows)} rows but {int(target.shape[0])} targets in one split")
        self.sources, self.rows, self.target, self.info = sources, np.asarray(rows, dtype=np.int64), target, info
        self.transforms = transforms
        self.transform_description = transform_description
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def inputs_of(self, modality: str, positions: np.ndarray | slice) -> np.ndarray:
        """Standardised float32 samples at ``positions`` of this split, shaped (n, *input shape)."""
        raw = np.asarray(self.sources[modality][self.rows[positions]])
        shape = self.info.input_shapes[modality]
        return np.ascontiguousarray(self.transforms[modality](raw.reshape(len(raw), *shape)))

    def get_item(self, i: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        batch = self.get_batch([i])
        return {m: x[0] for m, x in batch.inputs.items()}, self.target[i]

    def get_batch(self, indices: Sequence[int]):
        from g2d.data.base import Batch

        idx = np.asarray(indices, dtype=np.int64)
        inputs = {m: torch.from_numpy(self.inputs_of(m, idx)) for m in self.info.modalities}
        return Batch(inputs, self.target[torch.from_numpy(idx)], torch.from_numpy(idx))

    def targets(self) -> torch.Tensor:
        return self.target

    def fingerprint(self) -> str:
        """The hash :func:`g2d.data.base.hash_arrays` gives the split's standardised inputs and
        targets, computed chunk by chunk (so it equals the hash of the materialised split)."""
        if self._fingerprint is None:
            digest = hashlib.sha256(self.transform_description.encode())
            for m in self.info.modalities:
                shape = (len(self), *self.info.input_shapes[m])
                digest.update(b"float32" + str(shape).encode())
                for part in row_chunks(len(self), 4 * int(np.prod(shape[1:], dtype=np.int64))):
                    digest.update(self.inputs_of(m, part).tobytes())
            target = self.target.numpy()
            digest.update(str(target.dtype).encode() + str(target.shape).encode())
            digest.update(np.ascontiguousarray(target).tobytes())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def __getstate__(self) -> dict[str, Any]:
        """Memory-mapped sources travel to DataLoader workers as how to reopen them, not as copies."""
        state = dict(self.__dict__)
        state["sources"] = {m: _reopen_recipe(a) for m, a in self.sources.items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["sources"] = {m: _reopen(a) for m, a in state["sources"].items()}
        self.__dict__.update(state)


def _reopen_recipe(array: np.ndarray) -> Any:
    if isinstance(array, np.memmap) and array.filename is not None and array.base is not None:
        order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
        return ("memmap", array.filename, array.dtype.str, array.shape, array.offset, order)
    return array


def _reopen(recipe: Any) -> np.ndarray:
    if isinstance(recipe, tuple) and recipe and recipe[0] == "memmap":
        _, filename, dtype, shape, offset, order = recipe
        return np.memmap(filename, dtype=np.dtype(dtype), mode="r", offset=offset, shape=shape, order=order)
    return recipe


def open_npy(path: Path, where: str) -> np.ndarray:
    """A ``.npy`` file memory-mapped read-only (no pickled objects)."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{where}: {str(path)!r} is not a readable .npy array ({err})") from None


def open_npz_members(path: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Members of an ``.npz``: memory-mapped where stored uncompressed (what ``np.savez`` and
    :func:`g2d.data.memory.save_arrays` write), read whole where compressed."""
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        for name in names:
            info = archive.getinfo(f"{name}.npy")
            if info.compress_type != zipfile.ZIP_STORED:
                with archive.open(info) as member:
                    out[name] = np.lib.format.read_array(member, allow_pickle=False)
                continue
            raw.seek(info.header_offset + 26)
            name_len, extra_len = np.frombuffer(raw.read(4), dtype="<u2")
            start = info.header_offset + 30 + int(name_len) + int(extra_len)
            raw.seek(start)
            version = np.lib.format.read_magic(raw)
            if version not in ((1, 0), (2, 0)):
                with archive.open(info) as member:
                    out[name] = np.lib.format.read_array(member, allow_pickle=False)
                continue
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(raw)
            if dtype.hasobject:
                raise DataError(f"{path}: member {name!r} holds Python objects; expected a numeric array")
            if 0 in shape or shape == ():  # nothing to map
                with archive.open(info) as member:
                    out[name] = np.lib.format.read_array(member, allow_pickle=False)
                continue
            out[name] = np.memmap(path, dtype=dtype, mode="r", offset=raw.tell(), shape=shape,
                                  order="F" if fortran else "C")
    return out

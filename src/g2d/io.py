"""Atomic file writes: a crash leaves either the old file or the new one, never half of one.

Files and folders get the permissions the umask allows (as ``open`` would), a full disk is reported
as "no space left on device while writing PATH", and the readers of weights and checkpoints refuse
anything that is not what g2d wrote (never by running a pickle) with a message naming the file.
"""
from __future__ import annotations

import errno
import hashlib
import io as _bytes
import json
import os
import pickle
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from g2d.guards import NonFiniteError, nonfinite_parameters
from g2d.paths import require_file
from g2d.validation import G2DError

#: errno values that mean "the disk (or the user's quota) is full".
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(G2DError):
    """No space left while writing a file; nothing half-written was published."""


class CheckpointError(G2DError):
    """A weights or checkpoint file is not one g2d wrote (or does not fit the model)."""


def current_umask() -> int:
    """The process's umask: read from /proc on Linux (setting it to read it back races with other
    threads creating files), else set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: Path, mode: int) -> None:
    """Give ``path`` the permissions ``mode`` less the umask (mkstemp/mkdtemp make 0600/0700)."""
    os.chmod(path, mode & ~current_umask())


@contextmanager
def reporting_disk_full(path: str | Path) -> Iterator[None]:
    """Turn an out-of-space OSError inside the block into one message naming ``path``."""
    try:
        yield
    except OSError as err:
        if err.errno in DISK_FULL:
            raise DiskFullError(f"no space left on device while writing {path}; free some space and "
                                f"run the command again (add --resume where it has one)") from None
        raise


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, fsync it, then rename it over."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with reporting_disk_full(path):
            write(Path(tmp))
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        apply_umask(Path(tmp), 0o666)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextmanager
def staged_folder(dest: str | Path, replace: bool = True) -> Iterator[Path]:
    """Build a folder under a temporary name beside ``dest``; publish it by rename only when the
    block succeeds. An existing ``dest`` is replaced, or kept (and the new one dropped) when
    ``replace`` is False — e.g. another process finished the same work first."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        apply_umask(tmp, 0o777)
        with reporting_disk_full(dest):
            yield tmp
        if not dest.exists():
            tmp.rename(dest)
        elif replace:
            old = dest.with_name(f".{dest.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            dest.rename(old)
            tmp.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def read_json(path: str | Path) -> Any:
    """A JSON file; G2DError naming it when it is not valid JSON (a damaged or foreign file)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise G2DError(f"{path} is not valid JSON ({err}); expected the file g2d wrote") from None


def read_json_object(path: str | Path, what: str) -> dict[str, Any]:
    """A JSON object file g2d wrote (a manifest, a card); G2DError naming it when it is not one."""
    path = require_file(path, what)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise G2DError(f"{what} {path} is not valid JSON ({err}); expected the file g2d wrote") from None
    if not isinstance(obj, dict):
        raise G2DError(f"{what} {path}: expected a JSON object, got {type(obj).__name__}")
    return obj


FINGERPRINT_BLOCKS, FINGERPRINT_BLOCK = 64, 4096


def file_fingerprint(path: str | Path) -> str:
    """SHA-256 of the file's size and of 64 evenly spaced 4 KiB blocks: reads 256 KiB whatever the
    size, and changes when a file is replaced, truncated or zeroed (not when one row is edited:
    that is what the full hash is for)."""
    size = Path(path).stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        for i in range(FINGERPRINT_BLOCKS):
            fh.seek(i * max(size - FINGERPRINT_BLOCK, 0) // max(FINGERPRINT_BLOCKS - 1, 1))
            digest.update(fh.read(FINGERPRINT_BLOCK))
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of every byte of a file, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def save_weights(path: str | Path, module: torch.nn.Module, metadata: dict[str, str] | None = None) -> Path:
    """Model weights as safetensors (contiguous CPU copies; shared tensors cloned); NaN/Inf weights
    are refused (NonFiniteError), so a diverged model is never saved."""
    bad = nonfinite_parameters(module)
    if bad:
        raise NonFiniteError(f"refusing to write {path}: the weights {bad[:3]} hold NaN or Inf (training "
                             f"diverged; lower the learning rate)")
    tensors = {k: v.detach().cpu().clone().contiguous() for k, v in module.state_dict().items()}
    # serialised in memory, written by Python: a full disk is an OSError (ENOSPC), not a bare
    # C++ "iostream error" without a path
    return atomic_write(path, lambda p: p.write_bytes(safetensors_bytes(tensors, metadata=metadata or {})))


def load_weights(path: str | Path, module: torch.nn.Module) -> None:
    """Load a safetensors file into ``module``; CheckpointError naming the file when it is not one
    (a pickle, garbage, a truncated file) or holds another model's weights."""
    path = require_file(path, "weights file", CheckpointError)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a g2d weights file (safetensors: {err}); expected the "
                              f"model.safetensors g2d wrote — retrain or restore it") from None
    try:
        module.load_state_dict(tensors)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[1:2] or [str(err)[:200]]
        raise CheckpointError(f"{path}: its weights do not fit this model ({first[0].strip()}); "
                              f"was it trained with another config?") from None
    bad = nonfinite_parameters(module)
    if bad:
        raise CheckpointError(f"{path}: the weights {bad[:3]} hold NaN or Inf; g2d never writes such weights, "
                              f"so the file was damaged or replaced — restore it or retrain")


def save_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Optimiser/scheduler/trainer state (tensors, numbers, strings): read back with weights_only."""
    def write(p: Path) -> None:
        buffer = _bytes.BytesIO()
        torch.save(state, buffer)
        p.write_bytes(buffer.getbuffer())
    return atomic_write(path, write)


def load_state(path: str | Path, keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """A checkpoint state g2d saved, read with ``weights_only`` (no pickle is run); CheckpointError
    naming the file when it is anything else (a pickle, a torch file of other objects, garbage) or
    lacks one of ``keys``. Never suggests turning safe loading off."""
    path = require_file(path, "checkpoint", CheckpointError)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about unusual pickle protocols
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError, UnicodeDecodeError) as err:
        kind = "empty or truncated" if isinstance(err, EOFError) else "not a g2d checkpoint"
        raise CheckpointError(f"{path} is {kind}: it holds objects other than tensors, numbers and "
                              f"strings, or is not a torch file; it was not loaded. Delete it (and "
                              f"run without --resume) or restore the file g2d wrote") from None
    missing = [k for k in keys if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"{path} is not a g2d checkpoint: expected a mapping with {list(keys)}, "
                              f"missing {missing}")
    return state


def append_jsonl(path: str | Path, row: dict[str, Any]) -> None:
    with reporting_disk_full(path), open(path, "a") as fh:
        fh.write(json.dumps(row, default=_jsonable) + "\n")


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

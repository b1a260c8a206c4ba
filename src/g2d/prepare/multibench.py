"""MOSI / MOSEI / UR-FUNNY / IEMOCAP feature pickles as the multimodal-affect literature
distributes them (MultiBench / MulT layout: ``{"train"|"valid"|"test": {"vision", "audio", "text":
(N, T, F) arrays, "labels": ..., "id": ...}}``) -> ``train.npz`` / ``val.npz`` / ``test.npz`` in the
layout :mod:`g2d.data.sequences` reads, so no later run ever opens a pickle.

Opening a pickle can run arbitrary code, so conversion needs an explicit ``allow_pickle`` (CLI:
``--allow-pickle``); the ``.npz`` files are then read with ``allow_pickle=False``.

Labels (``labels`` option): ``score`` keeps MOSI/MOSEI's sentiment score (regression, -3..3);
``binary`` makes it ``score >= 0`` (the usual 2-class setting); UR-FUNNY's 0/1 labels are kept;
IEMOCAP's (N, 4, 2) one-hot emotion labels become the index of the first emotion marked present
(neutral, happy, sad, angry; a sample with none is dropped and counted). Non-finite features
(MOSEI's audio holds -inf) are set to 0 when
``nonfinite: zero`` (default; counted in prepare.json) or reported when ``nonfinite: keep``.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from g2d.prepare.base import PREPARERS, PrepareError, Preparer
from g2d.registry import Options

MODALITIES = ("text", "audio", "vision")
SPLITS = {"train": "train", "valid": "val", "val": "val", "test": "test"}
EMOTIONS = ("neutral", "happy", "sad", "angry")
#: file names the releases use, per data set (the first one found in RAW_DIR is read)
PICKLES = {"mosi": ("mosi_raw.pkl", "mosi_data.pkl", "mosi.pkl"),
           "mosei": ("mosei_senti_data.pkl", "mosei_raw.pkl", "mosei.pkl"),
           "urfunny": ("humor.pkl", "urfunny.pkl", "ur_funny.pkl"),
           "iemocap": ("iemocap_data.pkl", "iemocap.pkl")}


class MultiBenchOptions(Options):
    allow_pickle: bool = Field(False, description="required: a pickle can run code; only for files you trust")
    pickle_file: str | None = Field(None, description="file inside RAW_DIR (default: the release's name)")
    labels: Literal["score", "binary"] = Field("score", description="MOSI/MOSEI only: score (regression) or "
                                               "binary (score >= 0)")
    nonfinite: Literal["zero", "keep"] = Field("zero", description="zero: set NaN/Inf features to 0")


class MultiBench(Preparer):
    """A MultiBench-style pickle -> train/val/test .npz (the sequences loader's layout)."""

    kind = "arrays"
    options: MultiBenchOptions

    def find_pickle(self, raw: Path) -> Path:
        if raw.is_file():
            return raw
        names = [self.options.pickle_file] if self.options.pickle_file else list(PICKLES[self.name])
        for name in names:
            if (raw / name).is_file():
                return raw / name
        found = sorted(p.name for p in raw.glob("*.pkl"))
        raise PrepareError(f"{raw}: found none of {names}; .pkl files here: {found or 'none'} "
                           f"(choose one with --set pickle_file=NAME)")

    def load(self, raw: Path) -> tuple[Path, dict[str, Any]]:
        path = self.find_pickle(raw)
        if not self.options.allow_pickle:
            raise PrepareError(f"{path}: refusing to open a pickle, which can run arbitrary code; pass "
                               f"--allow-pickle only for a file you trust. It is converted once to .npz, "
                               f"which no later run opens with pickle")
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            try:
                content = pickle.loads(data)  # noqa: S301 - explicit --allow-pickle above
            except UnicodeDecodeError:  # a Python 2 pickle
                content = pickle.load(io.BytesIO(data), encoding="latin1")  # noqa: S301
        except Exception as err:  # any unpickling failure is the file's fault
            raise PrepareError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") from None
        if not isinstance(content, dict) or not any(k in content for k in SPLITS):
            keys = sorted(map(str, content))[:8] if isinstance(content, dict) else "-"
            raise PrepareError(f"{path}: expected a dict with train/valid/test splits, got "
                               f"{type(content).__name__} with keys {keys}")
        return path, content

    def labels(self, raw_labels: Any, where: str) -> np.ndarray:
        """The release's labels -> the (N,) targets the sequences loader reads."""
        raise NotImplementedError

    def labels_are_scores(self) -> bool:
        return False

    def convert(self, raw: Path) -> tuple[dict[str, bytes], dict[str, Any]]:
        """The .npz files (name -> bytes) and notes for prepare.json."""
        path, content = self.load(raw)
        files, notes = {}, {"pickle": str(path), "nonfinite_set_to_zero": {}, "sizes": {}}
        for key, split in SPLITS.items():
            if key not in content:
                continue
            part = content[key]
            where = f"{path.name} split {key!r}"
            missing = [k for k in (*MODALITIES, "labels") if k not in part]
            if missing:
                raise PrepareError(f"{where}: missing keys {missing}; found {sorted(part)}")
            arrays: dict[str, np.ndarray] = {}
            for m in MODALITIES:
                x = np.asarray(part[m], dtype=np.float32)
                if x.ndim != 3:
                    raise PrepareError(f"{where}: {m!r} has shape {x.shape}; expected (N, T, F)")
                bad = ~np.isfinite(x)
                if bad.any() and self.options.nonfinite == "zero":
                    notes["nonfinite_set_to_zero"][f"{split}/{m}"] = int(bad.sum())
                    x = np.where(bad, 0.0, x).astype(np.float32)
                arrays[m] = x
            arrays["labels"] = self.labels(part["labels"], where)
            unlabelled = arrays["labels"] < 0 if arrays["labels"].dtype == np.int64 else None
            ids = part.get("id", part.get("ids"))
            if ids is not None:
                arrays["ids"] = np.asarray([str(i) if not isinstance(i, (list, tuple, np.ndarray)) else
                                            "_".join(str(j) for j in np.ravel(i)) for i in ids])
            counts = {k: len(v) for k, v in arrays.items()}
            if len(set(counts.values())) != 1:
                raise PrepareError(f"{where}: inconsistent numbers of samples {counts}")
            if unlabelled is not None and unlabelled.any():
                notes.setdefault("dropped_without_label", {})[split] = int(unlabelled.sum())
                arrays = {k: v[~unlabelled] for k, v in arrays.items()}
                counts = {k: len(v) for k, v in arrays.items()}
            out = io.BytesIO()
            np.savez(out, **arrays)
            files[f"{split}.npz"] = out.getvalue()
            notes["sizes"][split] = counts["labels"]
        if "train.npz" not in files or "test.npz" not in files:
            raise PrepareError(f"{path}: expected train and test splits, found {sorted(content)}")
        notes["task"] = "regression" if self.labels_are_scores() else "classification"
        return files, notes

    def loader_options(self) -> dict[str, Any]:
        return {"task_type": "regression"} if self.labels_are_scores() else {}


def first_column(y: np.ndarray) -> np.ndarray:
    """(N,), (N, 1) or (N, 1, 1) -> (N,)."""
    return y.reshape(len(y), -1)[:, 0] if y.ndim > 1 else y


@PREPARERS.register("mosi", options=MultiBenchOptions)
class Mosi(MultiBench):
    """CMU-MOSI pickle (mosi_raw.pkl) -> train/val/test .npz; sentiment score or binary (needs --allow-pickle)."""

    name = "mosi"

    def labels(self, raw_labels: Any, where: str) -> np.ndarray:
        y = first_column(np.asarray(raw_labels, dtype=np.float64))
        return (y >= 0).astype(np.int64) if self.options.labels == "binary" else y.astype(np.float32)

    def labels_are_scores(self) -> bool:
        return self.options.labels != "binary"


@PREPARERS.register("mosei", options=MultiBenchOptions)
class Mosei(Mosi):
    """CMU-MOSEI pickle (mosei_senti_data.pkl) -> train/val/test .npz (needs --allow-pickle)."""

    name = "mosei"


@PREPARERS.register("urfunny", options=MultiBenchOptions)
class UrFunny(MultiBench):
    """UR-FUNNY pickle (humor.pkl) -> train/val/test .npz, labels 0/1 (needs --allow-pickle)."""

    name = "urfunny"

    def labels(self, raw_labels: Any, where: str) -> np.ndarray:
        return first_column(np.asarray(raw_labels)).astype(np.int64)


@PREPARERS.register("iemocap", options=MultiBenchOptions)
class Iemocap(MultiBench):
    """IEMOCAP pickle (iemocap_data.pkl) -> train/val/test .npz, 4 emotion classes (needs --allow-pickle)."""

    name = "iemocap"

    def labels(self, raw_labels: Any, where: str) -> np.ndarray:
        y = np.asarray(raw_labels)
        if y.ndim != 3 or y.shape[1:] != (len(EMOTIONS), 2):
            raise PrepareError(f"{where}: IEMOCAP labels have shape {y.shape}; expected (N, 4, 2), a one-hot "
                               f"(absent, present) pair per emotion ({', '.join(EMOTIONS)})")
        present = y[:, :, 1] > 0.5
        # first emotion marked present; -1 (dropped, counted in prepare.json) when none is
        return np.where(present.any(axis=1), np.argmax(present, axis=1), -1).astype(np.int64)

"""Decoding files into a split: whatever a decoder raises on one file (g2d's own error, or one of
Pillow, soundfile, numpy, torch) is that sample's named error — or a skipped, listed sample under
``skip_bad`` — never a traceback; with or without the preprocessed cache, in-process or in workers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from g2d.data import build_splits
from g2d.data.base import DatasetInfo
from g2d.data.preprocessed import Pipeline, Record, build_file_dataset
from g2d.data.validate import BadSamples
from g2d.validation import DataError


class FailsOn:
    """A decoder that reads a .npy but raises ``error`` on the file named ``bad`` (picklable, so
    it also runs in decode workers)."""

    def __init__(self, bad: str, error: BaseException) -> None:
        self.bad, self.error = bad, error

    def __call__(self, path: Path) -> np.ndarray:
        if Path(path).name == self.bad:
            raise self.error
        return np.load(path).astype(np.float32)


# one of each kind of error third-party decoders raise on a bad file
DECODER_ERRORS = [
    RuntimeError("stft: input length is smaller than the window"),  # torch
    ValueError("cannot reshape array of size 3 into shape (4,)"),  # numpy
    OSError("broken data stream when reading image file"),  # Pillow
    sf.LibsndfileError(1, "Error opening"),  # soundfile
    Image.DecompressionBombError("Image size (1000000000 pixels) exceeds limit"),  # Pillow, not an OSError
    MemoryError(),
    ZeroDivisionError("float division by zero"),
    KeyError("mode"),
]


def records(root: Path, n: int = 6) -> list[Record]:
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        np.save(root / f"{i}.npy", np.full(4, float(i), np.float32))
        out.append(Record(f"r{i}", {"x": root / f"{i}.npy"}, i % 2, f"list.csv line {i + 2}"))
    return out


def build(tmp_path: Path, decoder, skip_bad: bool, cache: bool, workers: int = 0):
    pipeline = Pipeline({"x": decoder}, {"x": (4,)}, f"test decoder {type(decoder.error).__name__}")
    info = DatasetInfo(("x",), "classification", 2, {"x": (4,)})
    bad = BadSamples(skip_bad)
    ds = build_file_dataset(records(tmp_path / "files"), pipeline, info, bad, name="t/train",
                            cache_root=tmp_path / "cache" if cache else None, workers=workers)
    return ds, bad


@pytest.mark.parametrize("cache", [False, True], ids=["no-cache", "cache"])
@pytest.mark.parametrize("error", DECODER_ERRORS, ids=lambda e: type(e).__name__)
def test_any_decoder_error_names_the_sample_file_and_reason(tmp_path, error, cache):
    with pytest.raises(DataError) as info:
        build(tmp_path, FailsOn("3.npy", error), skip_bad=False, cache=cache)
    message = str(info.value)
    assert message.startswith("list.csv line 5: modality 'x': decoding file ")
    assert "3.npy" in message and type(error).__name__ in message


@pytest.mark.parametrize("cache", [False, True], ids=["no-cache", "cache"])
@pytest.mark.parametrize("error", DECODER_ERRORS[:5], ids=lambda e: type(e).__name__)
def test_skip_bad_drops_and_lists_a_sample_whatever_its_decoder_raised(tmp_path, error, cache):
    ds, bad = build(tmp_path, FailsOn("3.npy", error), skip_bad=True, cache=cache)
    assert [r.id for r in ds.records] == ["r0", "r1", "r2", "r4", "r5"]
    assert [s["where"] for s in bad.skipped] == ["list.csv line 5"]
    assert type(error).__name__ in bad.skipped[0]["problem"]
    assert torch.equal(ds.get_batch([3]).inputs["x"][0], torch.full((4,), 4.0))  # rows still line up


def test_decoder_errors_in_worker_processes_are_named_too(tmp_path):
    ds, bad = build(tmp_path, FailsOn("1.npy", RuntimeError("kernel failed")), skip_bad=True, cache=True,
                    workers=1)
    assert len(ds) == 5 and "RuntimeError: kernel failed" in bad.skipped[0]["problem"]


def write_png(path: Path, side: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def image_manifest(root: Path, sides: list[int]) -> Path:
    lines = ["id,img,label,split"]
    for i, side in enumerate(sides):
        write_png(root / f"{i}.png", side, i)
        lines.append(f"r{i},{i}.png,{'ab'[i % 2]},{'test' if i >= len(sides) - 2 else 'train'}")
    (root / "m.csv").write_text("\n".join(lines) + "\n")
    return root / "m.csv"


def test_a_decompression_bomb_sized_frame_is_named_or_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 2x this is a "bomb": a 48x48 frame
    sides = [16] * 10
    sides[3] = 48
    path = image_manifest(tmp_path, sides)
    options = {"path": str(path), "modalities": ["img"], "image": {"size": 8}, "cache_dir": str(tmp_path / "c"),
               "classes": ["a", "b"]}
    with pytest.raises(DataError, match=r"m.csv line 5: image file .*3.png' is too large to decode safely"):
        build_splits("manifest", options)
    splits = build_splits("manifest", {**options, "skip_bad": True})
    skipped = splits.provenance["skipped"]
    assert [s["where"] for s in skipped] == ["m.csv line 5"] and "too large" in skipped[0]["problem"]


def test_a_clip_shorter_than_the_stft_window_is_refused_by_its_options(tmp_path):
    with pytest.raises(ValueError, match=r"audio: a clip of 0.05 s at 8000 Hz is 400 samples, shorter than the "
                                         r"STFT window n_fft = 512"):
        build_splits("manifest", {"path": str(tmp_path / "m.csv"), "modalities": ["a"],
                                  "audio": {"sample_rate": 8000, "seconds": 0.05, "n_fft": 512}})

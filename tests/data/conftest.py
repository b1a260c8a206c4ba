"""Fixtures that write small real-format files (real WAV via soundfile, real JPEG via Pillow)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf
from PIL import Image


def write_wav(path: Path, seconds: float = 0.3, rate: int = 8000, freq: float = 440.0, seed: int = 0) -> Path:
    """A real 16-bit PCM WAV: a tone plus a little noise."""
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).normal(0, 0.01, len(t))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (0.5 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32), rate, subtype="PCM_16")
    return path


def write_jpg(path: Path, value: int = 128, side: int = 20, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    pixels = np.clip(value + rng.normal(0, 20, (side, side, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=90)
    return path


def truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_cremad(root: Path, per_class: int = 4, classes: tuple[str, ...] = ("NEU", "HAP", "ANG"),
                test_per_class: int = 2, frames: int = 2) -> Path:
    """A CREMA-D-format folder: train.csv/test.csv (clip,LABEL), AudioWAV/*.wav, Image-01-FPS/<clip>/*.jpg.
    Class k has a tone at 300+200k Hz and frames of grey level 40+60k, so it is learnable."""
    rows: dict[str, list[str]] = {"train": [], "test": []}
    n = 0
    for split, count in (("train", per_class), ("test", test_per_class)):
        for k, label in enumerate(classes):
            for j in range(count):
                clip = f"{1001 + n}_DFA_{label}_XX"
                n += 1
                write_wav(root / "AudioWAV" / f"{clip}.wav", 0.2 + 0.05 * j, 8000 if j % 2 else 11025,
                          300 + 200 * k, seed=n)
                for f in range(frames):
                    write_jpg(root / "Image-01-FPS" / clip / f"{f:05d}.jpg", 40 + 60 * k, 24, seed=n * 10 + f)
                rows[split].append(f"{clip},{label}")
    for split, lines in rows.items():
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def cremad_dir(tmp_path: Path) -> Path:
    return make_cremad(tmp_path / "cremad")


@pytest.fixture
def small_audio_image() -> dict:
    """Small transforms so tests run fast."""
    return {"audio": {"sample_rate": 8000, "seconds": 0.25, "n_fft": 64, "hop": 32, "size": [16, 16]},
            "image": {"size": 16, "resize": 20}}


@pytest.fixture(scope="session")
def files() -> dict[str, Callable]:
    return {"wav": write_wav, "jpg": write_jpg, "truncate": truncate, "cremad": make_cremad}

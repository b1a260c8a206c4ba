"""Builders of real audio-visual digit data sets from FSDD (spoken digits) and MNIST (handwriting).

``make_av_digits`` writes AV-digits in AV-MNIST format (read by the ``avmnist`` loader), following
the AV-MNIST recipe in spirit: each FSDD clip is paired with an MNIST image of the same digit
(train clips with MNIST train images, test clips with MNIST test images, each image used once);
the image is degraded by PCA to the leading components that hold 25 % of the pixel variance; the
audio becomes a 112×112 log spectrogram (8 kHz, tile/trim to 1 s, STFT n_fft=222 hop=72) after
white Gaussian noise is mixed in at ``snr_db`` (None = clean). FSDD's own split is kept: take index
0–4 test, 5–49 train; the loader carves validation from train.

``make_cremad_digits`` writes the same clips in CREMA-D layout (csv + AudioWAV + frame folders of
MNIST JPEGs) to exercise the file-backed pipeline on real recordings.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from g2d import io
from g2d.data.audio import AudioTransform, log_spectrogram
from g2d.validation import DataError
from g2d.paths import require_file, require_folder

CLIP = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
AUDIO = AudioTransform(sample_rate=8000, seconds=1.0, n_fft=222, hop=72)  # -> (1, 112, 112)


def fsdd_clips(fsdd: Path) -> list[tuple[Path, int, str, int]]:
    """(path, digit, speaker, take) of every FSDD clip, sorted by name."""
    require_folder(fsdd, "FSDD folder", DataError)
    clips = [(p, int(m[1]), m[2], int(m[3])) for p in sorted(fsdd.glob("*.wav")) if (m := CLIP.match(p.name))]
    if not clips:
        raise DataError(f"{fsdd}: no FSDD clips named <digit>_<speaker>_<take>.wav")
    return clips


def load_mnist(path: Path) -> dict[str, np.ndarray]:
    require_file(path, "MNIST file (mnist.npz with x_train, y_train, …)", DataError)
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in ("x_train", "y_train", "x_test", "y_test")}


def fit_pca(train: np.ndarray, energy: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(mean, basis) of the fewest principal components of ``train`` (pixels / 255) holding
    ``energy`` of its variance, and the share they actually hold."""
    x = train.reshape(len(train), -1).astype(np.float64) / 255.0
    mean = x.mean(0)
    values, vectors = np.linalg.eigh(np.cov(x - mean, rowvar=False))
    values, vectors = values[::-1], vectors[:, ::-1]
    share = np.cumsum(values) / values.sum()
    k = int(np.searchsorted(share, energy) + 1)
    return mean, vectors[:, :k], float(share[k - 1])


def pca_project(images: np.ndarray, mean: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Reconstruct ``images`` (pixels / 255) from their projection on ``basis``."""
    flat = images.reshape(len(images), -1).astype(np.float64) / 255.0 - mean
    return ((flat @ basis) @ basis.T + mean).reshape(images.shape).astype(np.float32)


def pca_degrade(train: np.ndarray, images: np.ndarray, energy: float) -> tuple[np.ndarray, int, float]:
    """Project ``images`` onto the PCA of ``train`` keeping ``energy`` of the variance; returns
    (images, components kept, energy actually kept)."""
    mean, basis, kept = fit_pca(train, energy)
    return pca_project(images, mean, basis), basis.shape[1], kept


def noisy_spectrogram(path: Path, snr_db: float | None, rng: np.random.Generator) -> np.ndarray:
    wave = AUDIO.waveform(path)
    if snr_db is not None:
        power = float(np.mean(wave.astype(np.float64) ** 2)) or 1e-12
        wave = wave + rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(wave)).astype(np.float32)
    return log_spectrogram(wave, AUDIO.n_fft, AUDIO.hop)[None].numpy()


def pair_images(clip_digits: list[int], labels: np.ndarray, rng: np.random.Generator) -> list[int]:
    """For each clip's digit, a distinct image index of that digit (seeded)."""
    pools = {d: list(rng.permutation(np.flatnonzero(labels == d))) for d in range(10)}
    return [int(pools[d].pop()) for d in clip_digits]


def save_npy(path: Path, array: np.ndarray) -> None:
    """``np.save`` through an atomic write (a crash never leaves half an array)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.save(fh, array)

    io.atomic_write(path, write)


def make_av_digits(fsdd: str | Path, mnist: str | Path, out: str | Path, snr_db: float | None,
                   pca_energy: float = 0.25, seed: int = 0) -> dict[str, Any]:
    """Write AV-digits (AV-MNIST format) to ``out``; returns the recipe (also in ``av_digits.json``)."""
    fsdd, out = Path(fsdd), Path(out)
    data = load_mnist(Path(mnist))
    rng = np.random.default_rng(seed)
    clips = fsdd_clips(fsdd)
    recipe: dict[str, Any] = {"snr_db": snr_db, "noise": "white Gaussian" if snr_db is not None else "none",
                              "pca_energy_target": pca_energy, "seed": seed, "audio": AUDIO.describe(),
                              "split": "FSDD take 0-4 test, 5-49 train"}
    mean, basis, kept = fit_pca(data["x_train"], pca_energy)
    for split, takes, key in (("test", range(0, 5), "test"), ("train", range(5, 50), "train")):
        chosen = [c for c in clips if c[3] in takes]
        idx = pair_images([c[1] for c in chosen], data[f"y_{key}"], rng)
        images = pca_project(data[f"x_{key}"][idx], mean, basis)
        audio = np.stack([noisy_spectrogram(c[0], snr_db, np.random.default_rng([seed, n]))
                          for n, c in enumerate(chosen)])
        labels = np.asarray([c[1] for c in chosen], dtype=np.int64)
        for rel, arr in ((f"image/{split}_data.npy", images), (f"audio/{split}_data.npy", audio[:, 0]),
                         (f"{split}_labels.npy", labels)):
            save_npy(out / rel, arr)
        recipe.update({"pca_components": basis.shape[1], "pca_energy_kept": round(kept, 4), f"{split}_size": len(chosen),
                       f"{split}_clips": [c[0].name for c in chosen], f"{split}_mnist_indices": idx})
    io.write_json(out / "av_digits.json", recipe)
    return recipe


def make_cremad_digits(fsdd: str | Path, mnist: str | Path, out: str | Path, takes_train: range = range(5, 50),
                       takes_test: range = range(0, 5), frames: int = 3, side: int = 64, seed: int = 0) -> Path:
    """FSDD clips + MNIST frames in CREMA-D layout (labels are the digits ``0``..``9``)."""
    fsdd, out = Path(fsdd), Path(out)
    data = load_mnist(Path(mnist))
    rng = np.random.default_rng(seed)
    for split, takes, key in (("train", takes_train, "train"), ("test", takes_test, "test")):
        chosen = [c for c in fsdd_clips(fsdd) if c[3] in takes]
        pools = {d: list(rng.permutation(np.flatnonzero(data[f"y_{key}"] == d))) for d in range(10)}
        rows = []
        for path, digit, _, _ in chosen:
            clip = path.stem
            (out / "AudioWAV").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out / "AudioWAV" / f"{clip}.wav")
            for f in range(frames):
                img = Image.fromarray(data[f"x_{key}"][pools[digit].pop()]).convert("RGB").resize((side, side))
                (out / "Image-01-FPS" / clip).mkdir(parents=True, exist_ok=True)
                img.save(out / "Image-01-FPS" / clip / f"{f + 1:05d}.jpg", quality=90)
            rows.append(f"{clip},{digit}")
        io.write_text(out / f"{split}.csv", "\n".join(rows) + "\n")
    return out

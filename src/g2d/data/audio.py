"""Audio decoding and the spectrogram transform: read (soundfile) → mono → resample → tile/trim →
log-magnitude STFT (``torch.stft``) → optional resize to a fixed (H, W).

The resampler is band-limited windowed-sinc interpolation (Kaiser window, ``zero_crossings`` on
each side): each output sample at input position ``t`` is ``Σ_j x[j]·c·sinc(c·(t−j))·w(t−j)``, with
cutoff ``c = min(1, sr_out/sr_in)`` so downsampling low-passes before it decimates (no aliasing).
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F

from g2d.paths import require_file
from g2d.validation import DataError


def read_wav(path: str | Path, max_frames: Callable[[int], int] | None = None) -> tuple[np.ndarray, int]:
    """Decode an audio file to mono float32 in [-1, 1]; DataError if unreadable or truncated.
    ``max_frames(rate)``: read only the first that many frames (the rest of a long clip is never
    decoded)."""
    path = Path(path)
    require_file(path, "audio file", DataError)
    if path.suffix.lower() == ".wav":
        check_wav_complete(path)
    try:
        with sf.SoundFile(str(path)) as fh:
            rate = fh.samplerate
            frames = -1 if max_frames is None else max(1, max_frames(rate))
            data = fh.read(frames=frames, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, ValueError) as err:
        raise DataError(f"audio file {str(path)!r} is unreadable ({err}); expected a valid "
                        f"WAV/FLAC/OGG file") from None
    if data.shape[0] == 0:
        raise DataError(f"audio file {str(path)!r} holds no samples; expected a non-empty recording")
    mono = data.mean(axis=1)
    if not np.isfinite(mono).all():
        raise DataError(f"audio file {str(path)!r} holds NaN or Inf samples")
    return mono, int(rate)


def check_wav_complete(path: Path) -> None:
    """A RIFF/WAVE file whose ``data`` chunk is shorter than its header says is truncated
    (libsndfile would silently return the samples that are there)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return  # not plain RIFF/WAVE: let soundfile decide
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk, length = struct.unpack("<4sI", fh.read(8))
            if chunk == b"data":
                if length not in (0, 0xFFFFFFFF) and pos + 8 + length > size:
                    raise DataError(f"audio file {str(path)!r} is truncated: its data chunk declares "
                                    f"{length} bytes but only {size - pos - 8} are present")
                return
            pos += 8 + length + (length & 1)


def resample(x: np.ndarray, sr_in: int, sr_out: int, zero_crossings: int = 16,
             beta: float = 8.6) -> np.ndarray:
    """Band-limited windowed-sinc resampling of a 1-D signal from ``sr_in`` to ``sr_out`` Hz."""
    if sr_in == sr_out:
        return x.astype(np.float32, copy=False)
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    ratio = sr_out / sr_in
    cutoff = min(1.0, ratio)  # fraction of the input Nyquist frequency kept
    half = zero_crossings / cutoff  # kernel half-width in input samples
    n_out = max(1, int(round(len(x) * ratio)))
    taps = np.arange(-math.ceil(half), math.ceil(half) + 1)
    x64 = np.asarray(x, dtype=np.float64)
    out = np.empty(n_out, dtype=np.float64)
    step = max(1, 2_000_000 // len(taps))  # bound the (chunk, taps) working array
    for start in range(0, n_out, step):
        t = np.arange(start, min(n_out, start + step)) / ratio  # output positions in input samples
        j = np.floor(t).astype(np.int64)[:, None] + taps[None, :]
        d = t[:, None] - j
        window = np.where(np.abs(d) < half, np.i0(beta * np.sqrt(np.clip(1 - (d / half) ** 2, 0, 1))) / np.i0(beta), 0.0)
        kernel = cutoff * np.sinc(cutoff * d) * window
        valid = (j >= 0) & (j < len(x64))
        out[start:start + len(t)] = (np.where(valid, x64[np.clip(j, 0, len(x64) - 1)], 0.0) * kernel).sum(1)
    return out.astype(np.float32)


def resample_input_frames(num_out: int, sr_in: int, sr_out: int, zero_crossings: int = 16) -> int:
    """Input frames that :func:`resample` reads to make its first ``num_out`` output samples: the
    last output's position plus the kernel's half-width. Reading only these gives exactly the
    samples that resampling the whole clip and then trimming it would."""
    if sr_in == sr_out:
        return num_out
    ratio = sr_out / sr_in
    return math.ceil((num_out - 1) / ratio) + math.ceil(zero_crossings / min(1.0, ratio)) + 2


def tile_trim(x: np.ndarray, length: int) -> np.ndarray:
    """Repeat a short clip until it fills ``length`` samples; cut a long one to its start."""
    if len(x) == 0:
        raise ValueError("cannot tile an empty clip")
    if len(x) < length:
        x = np.tile(x, math.ceil(length / len(x)))
    return x[:length]


def log_spectrogram(x: np.ndarray | torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """``log1p(|STFT|)`` with a Hann window: (n_fft // 2 + 1, frames) float32."""
    wave = torch.as_tensor(x, dtype=torch.float32)
    spec = torch.stft(wave, n_fft=n_fft, hop_length=hop, win_length=n_fft,
                      window=torch.hann_window(n_fft), center=True, return_complex=True)
    return torch.log1p(spec.abs())


def resize_2d(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a (H, W) or (C, H, W) tensor."""
    batched = x[None] if x.dim() == 3 else x[None, None]
    out = F.interpolate(batched, size=tuple(size), mode="bilinear", align_corners=False)
    return out[0] if x.dim() == 3 else out[0, 0]


@dataclass(frozen=True)
class AudioTransform:
    """The deterministic audio pipeline; ``describe()`` is recorded in fingerprints and data.json."""

    sample_rate: int = 16000
    seconds: float = 3.0
    n_fft: int = 512
    hop: int = 160
    size: tuple[int, int] | None = None  # resize the spectrogram to (H, W); None keeps (F, frames)

    def __post_init__(self) -> None:
        if self.num_samples < self.n_fft:
            raise ValueError(f"a clip of {self.seconds} s at {self.sample_rate} Hz is {self.num_samples} samples, "
                             f"shorter than the STFT window n_fft = {self.n_fft}; raise seconds or lower n_fft")

    @property
    def num_samples(self) -> int:
        return int(round(self.sample_rate * self.seconds))

    def output_shape(self) -> tuple[int, int, int]:
        if self.size is not None:
            return (1, *self.size)
        return (1, self.n_fft // 2 + 1, self.num_samples // self.hop + 1)

    def describe(self) -> str:
        size = f", resize to {self.size[0]}x{self.size[1]} (bilinear)" if self.size else ""
        return (f"audio: mono, resample to {self.sample_rate} Hz (windowed sinc), tile/trim to "
                f"{self.seconds} s, STFT n_fft={self.n_fft} hop={self.hop} Hann, log1p magnitude{size}")

    def waveform(self, path: str | Path) -> np.ndarray:
        """The clip at ``sample_rate``, tiled or trimmed to ``seconds``. A long clip is trimmed before
        it is resampled (only the frames the first ``seconds`` need are decoded), so a 5-minute file
        costs what a ``seconds``-long one does."""
        def needed(rate: int) -> int:
            return resample_input_frames(self.num_samples, rate, self.sample_rate)

        wave, rate = read_wav(path, max_frames=needed)
        return tile_trim(resample(wave, rate, self.sample_rate), self.num_samples)

    def __call__(self, path: str | Path) -> np.ndarray:
        """Path -> (1, H, W) float32 log spectrogram."""
        spec = log_spectrogram(self.waveform(path), self.n_fft, self.hop)
        if self.size is not None:
            spec = resize_2d(spec, self.size)
        return spec[None].numpy()

"""Tiny synthetic raw clips in real container formats, written with PyAV: frames of a per-class
colour plus noise, a per-class tone plus noise as the audio track. For benchmarks and tests of
``g2d prepare``, and for trying it without a download (``make_cremad_like``)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from g2d.prepare.media import require_av

COLOURS = [(220, 40, 40), (40, 200, 60), (40, 60, 220), (220, 200, 40), (200, 40, 200), (40, 200, 200)]


def frame_image(k: int, cls: int, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8: the class colour, noise, and a brightness ramp over the frames."""
    w, h = size
    img = np.empty((h, w, 3), np.int64)
    img[:] = COLOURS[cls % len(COLOURS)]
    return np.clip(img + rng.integers(-30, 30, (h, w, 3)) + 3 * k, 0, 255).astype(np.uint8)


def tone(cls: int, seconds: float, rate: int, channels: int, seed: int) -> np.ndarray:
    """(samples, channels) float32: a (300 + 200·cls) Hz sine plus a little noise."""
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * (300 + 200 * cls) * t) + 0.02 * np.random.default_rng(seed).normal(size=len(t))
    return np.repeat(x[:, None], channels, 1).astype(np.float32)


def write_audio_stream(container: Any, stream: Any, x: np.ndarray) -> None:
    """Encode float samples (n, channels) in the stream's own sample format."""
    av = require_av()
    fmt = stream.codec_context.format.name
    size = stream.codec_context.frame_size or 1024
    pts = 0
    for s in range(0, len(x), size):
        chunk = x[s:s + size]
        arr = chunk.T.copy() if fmt.endswith("p") else chunk.reshape(1, -1).copy()
        if fmt.startswith("s16"):
            arr = (arr * 32767).astype(np.int16)
        elif fmt.startswith("s32"):
            arr = (arr * 2 ** 30).astype(np.int32)
        frame = av.AudioFrame.from_ndarray(arr, format=fmt, layout=stream.layout.name)
        frame.sample_rate, frame.pts = stream.codec_context.sample_rate, pts
        pts += len(chunk)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def write_clip(path: Path, cls: int, *, seconds: float = 1.5, fps: int = 10, size: tuple[int, int] = (32, 24),
               audio_rate: int | None = 16000, channels: int = 1, vfr: bool = False, seed: int = 0,
               video_codec: str | None = None, audio_codec: str = "aac") -> Path:
    """A .flv or .mp4 clip with a video stream (and an audio track unless ``audio_rate`` is None);
    ``vfr``: alternating 170 ms and 30 ms frame gaps (a variable frame rate)."""
    av = require_av()
    path.parent.mkdir(parents=True, exist_ok=True)
    flv = path.suffix == ".flv"
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w", format="flv" if flv else "mp4") as out:
        video = out.add_stream(video_codec or ("flv" if flv else "mpeg4"), rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        if vfr:
            video.codec_context.time_base = video.time_base = Fraction(1, 1000)
        audio = None
        if audio_rate is not None:
            audio = out.add_stream(audio_codec, rate=audio_rate)
            audio.layout = "stereo" if channels == 2 else "mono"
        t_ms, k = 0.0, 0
        while t_ms < seconds * 1000 - 1e-6:
            frame = av.VideoFrame.from_ndarray(frame_image(k, cls, size, rng), format="rgb24")
            if vfr:
                frame.pts, frame.time_base = int(t_ms), Fraction(1, 1000)
                t_ms += 30 if k % 2 else 170
            else:
                t_ms += 1000 / fps
            for packet in video.encode(frame):
                out.mux(packet)
            k += 1
        for packet in video.encode():
            out.mux(packet)
        if audio is not None:
            write_audio_stream(out, audio, tone(cls, seconds, audio_rate, channels, seed))
    return path


def write_wav(path: Path, cls: int, seconds: float = 1.5, rate: int = 16000, channels: int = 1, seed: int = 0) -> Path:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(cls, seconds, rate, channels, seed), rate, subtype="PCM_16")
    return path


def make_cremad_like(root: Path, clips: int, seconds: float = 1.5, size: tuple[int, int] = (32, 24)) -> list[str]:
    """``clips`` clean clips in the CREMA-D release layout (VideoFlash/*.flv, AudioWAV/*.wav),
    spread over 91 actors, 12 sentences and 6 emotions; returns their names."""
    from g2d.prepare.cremad import EMOTIONS

    sentences = ["IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"]
    names = []
    for n in range(clips):
        actor, rest = 1001 + n % 91, n // 91
        emotion = EMOTIONS[rest % 6]
        name = f"{actor}_{sentences[(rest // 6) % 12]}_{emotion}_{['XX', 'LO', 'MD', 'HI'][(rest // 72) % 4]}"
        write_clip(root / "VideoFlash" / f"{name}.flv", EMOTIONS.index(emotion), seconds=seconds, size=size,
                   audio_rate=None, seed=n)
        write_wav(root / "AudioWAV" / f"{name}.wav", EMOTIONS.index(emotion), seconds, seed=n)
        names.append(name)
    if len(set(names)) != len(names):
        raise ValueError(f"make_cremad_like: at most {91 * 6 * 12 * 4} distinct clips, asked for {clips}")
    return names

"""Decoding raw clips with PyAV (FFmpeg in a wheel): frames sampled by a deterministic rule and
streamed one at a time, audio resampled by FFmpeg's resampler; writing JPEG frames (Pillow) and
16-bit PCM WAV (soundfile).

Every decoding error of a clip becomes a :class:`BadClip` naming the file and what was wrong, so
the caller can skip the clip (``--skip-bad``) or stop with that message.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from g2d.paths import path_problem
from g2d.validation import G2DError

if TYPE_CHECKING:
    import av

#: seconds of slack when a frame's time is compared with a sampling instant (timestamps in
#: milliseconds round 1/30 s steps; one microsecond never moves a frame to the wrong instant)
TIME_SLACK = 1e-6
INSTALL_HINT = "pip install 'g2d[prepare]'"


class MissingMediaLibrary(G2DError, ImportError):
    """PyAV, which ``g2d prepare`` decodes video and audio with, is not installed."""


class BadClip(G2DError, ValueError):
    """One raw clip cannot be prepared (missing, corrupt, no audio track, ...); ``reason`` says why."""

    def __init__(self, clip: str, reason: str) -> None:
        super().__init__(f"clip {clip!r}: {reason}")
        self.clip, self.reason = clip, reason


def require_av() -> Any:
    """The ``av`` module, or a named error saying how to install it."""
    try:
        import av
    except ImportError:
        raise MissingMediaLibrary(f"g2d prepare decodes video and audio with PyAV, which is not installed; "
                                  f"install it with: {INSTALL_HINT}") from None
    return av


def library_versions() -> dict[str, str]:
    """Versions of everything that decides the bytes ``prepare`` writes (recorded in prepare.json)."""
    import PIL
    import soundfile
    from PIL import features

    av = require_av()
    libs = {name: ".".join(str(p) for p in v) for name, v in sorted(av.library_versions.items())}
    return {"av": av.__version__, "ffmpeg": str(av.ffmpeg_version_info), **libs,
            "pillow": PIL.__version__, "libjpeg": str(features.version("jpg")),
            "soundfile": soundfile.__version__, "libsndfile": soundfile.__libsndfile_version__,
            "numpy": np.__version__}


@dataclass(frozen=True)
class FrameRule:
    """Which frames of a clip are kept. ``sampling="fps"``: one instant every 1/``fps`` seconds
    (k / fps for k = 0, 1, ...); ``"even"``: ``num_frames`` instants evenly spaced over the clip (the
    centre of each of N equal parts). Instants are measured from the clip's first frame and stop
    at ``max_seconds``; each instant takes the first frame shown at or after it. Never random."""

    sampling: str = "fps"
    fps: float = 1.0
    num_frames: int = 3
    max_seconds: float | None = None

    def instants(self, duration: float) -> list[float]:
        """The ``even`` rule's instants (seconds from the first frame) for a clip of ``duration`` s."""
        span = duration if self.max_seconds is None else min(duration, self.max_seconds)
        return [(k + 0.5) * span / self.num_frames for k in range(self.num_frames)]


@dataclass(frozen=True)
class ImageRule:
    """How a kept frame is stored: shorter side resized to ``short_side`` (None: as decoded), JPEG
    at ``quality``."""

    short_side: int | None = None
    quality: int = 95

    def encode(self, image: "Any") -> bytes:
        from PIL import Image

        if self.short_side is not None:
            w, h = image.size
            scale = self.short_side / min(w, h)
            image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=self.quality)
        return out.getvalue()


def open_container(path: Path, clip: str) -> "av.container.InputContainer":
    av = require_av()
    problem = path_problem(path, "file")
    if problem:
        raise BadClip(clip, f"file {path} is missing" if problem == "does not exist"
                      else f"file {str(path)!r} {problem}")
    if path.stat().st_size == 0:
        raise BadClip(clip, f"file {path} is empty (0 bytes)")
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as err:
        raise BadClip(clip, f"file {path} is not a readable media file ({err})") from None


def video_duration(path: Path, clip: str) -> float:
    """Seconds from the first to the end of the last video packet (demuxed, not decoded): the
    container's own duration field is often wrong in real downloads."""
    av = require_av()
    with open_container(path, clip) as container:
        if not container.streams.video:
            raise BadClip(clip, f"file {path} has no video stream")
        stream = container.streams.video[0]
        first = last = None
        try:
            for packet in container.demux(stream):
                if packet.pts is None:
                    continue
                start = float(packet.pts * stream.time_base)
                end = start + float((packet.duration or 0) * stream.time_base)
                first = start if first is None else min(first, start)
                last = end if last is None else max(last, end)
        except av.FFmpegError as err:
            raise BadClip(clip, f"file {path}: video stream is corrupt ({err})") from None
        if first is None:
            raise BadClip(clip, f"file {path}: video stream holds no frames")
        return last - first


def sample_frames(path: Path, clip: str, rule: FrameRule) -> Iterator[tuple[int, float, Any]]:
    """``(index, time, PIL image)`` for each kept frame, decoded one at a time (memory stays one
    frame). ``time`` is seconds from the clip's first frame."""
    av = require_av()
    instants = rule.instants(video_duration(path, clip)) if rule.sampling == "even" else None

    def instant(k: int) -> float:
        if instants is None:
            return k / rule.fps
        return instants[k] if k < len(instants) else math.inf

    with open_container(path, clip) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start, k, last, last_kept = None, 0, None, False
        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                start = frame.time if start is None else start
                t = frame.time - start
                if (rule.max_seconds is not None and t >= rule.max_seconds - TIME_SLACK) or instant(k) == math.inf:
                    break
                last, last_kept = (t, frame), False
                if t >= instant(k) - TIME_SLACK:
                    yield k, t, frame.to_image()
                    last_kept = True
                    k += 1
                    while instant(k) <= t + TIME_SLACK:  # one frame covers every instant of a gap
                        k += 1
        except av.FFmpegError as err:
            raise BadClip(clip, f"file {path}: video stream is corrupt ({err})") from None
        if start is None:
            raise BadClip(clip, f"file {path}: no video frame could be decoded")
        if instant(k) != math.inf and instants is not None and last is not None and not last_kept:
            yield k, last[0], last[1].to_image()  # the clip ended before its last instant


def decode_audio(path: Path, clip: str, sample_rate: int, mono: bool,
                 max_seconds: float | None) -> np.ndarray:
    """The first audio track as int16 (samples, channels) at ``sample_rate`` (FFmpeg's resampler;
    mono is FFmpeg's down-mix), cut at ``max_seconds``."""
    av = require_av()
    with open_container(path, clip) as container:
        if not container.streams.audio:
            raise BadClip(clip, f"file {path} has no audio track")
        stream = container.streams.audio[0]
        layout = "mono" if mono else "stereo"
        resampler = av.AudioResampler(format="s16", layout=layout, rate=sample_rate)
        limit = None if max_seconds is None else int(round(max_seconds * sample_rate))
        chunks: list[np.ndarray] = []
        total = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1, 1 if mono else 2))
                    total += len(chunks[-1])
                if limit is not None and total >= limit:
                    break
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1, 1 if mono else 2))
        except av.FFmpegError as err:
            raise BadClip(clip, f"file {path}: audio track is corrupt ({err})") from None
    samples = np.concatenate(chunks) if chunks else np.zeros((0, 1 if mono else 2), np.int16)
    samples = samples[:limit] if limit is not None else samples
    if len(samples) == 0:
        raise BadClip(clip, f"file {path}: audio track holds no samples")
    return samples


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV of int16 (samples, channels)."""
    import soundfile as sf

    out = io.BytesIO()
    sf.write(out, samples, sample_rate, subtype="PCM_16", format="WAV")
    return out.getvalue()

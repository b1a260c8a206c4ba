"""Tiny real-format raw downloads written with PyAV: short clips with synthetic frames (a per-class
colour plus noise) and a tone per class, in each data set's raw layout, and the messy cases
(corrupt file, no audio track, 48 kHz stereo, variable frame rate)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf

av = __import__("pytest").importorskip("av", reason="PyAV is needed to write test clips (pip install 'g2d[prepare]')")

COLOURS = [(220, 40, 40), (40, 200, 60), (40, 60, 220), (220, 200, 40), (200, 40, 200), (40, 200, 200)]


def frame_image(k: int, cls: int, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = COLOURS[cls % len(COLOURS)]
    noise = rng.integers(-30, 30, (h, w, 3))
    img = np.clip(img.astype(int) + noise + 3 * k, 0, 255).astype(np.uint8)
    return img


def tone(cls: int, seconds: float, rate: int, channels: int, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * (300 + 200 * cls) * t) + 0.02 * np.random.default_rng(seed).normal(size=len(t))
    return np.repeat(x[:, None], channels, 1).astype(np.float32)


def write_audio_stream(container, stream, x: np.ndarray) -> None:
    """Encode float samples (n, channels) in the stream's own sample format."""
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
    """A clip with a video stream (and an audio track unless ``audio_rate`` is None)."""
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
        t_ms, k = 0, 0
        while t_ms < seconds * 1000 - 1e-6:
            frame = av.VideoFrame.from_ndarray(frame_image(k, cls, size, rng), format="rgb24")
            if vfr:  # alternating long and short gaps: 30 ms, 170 ms, ...
                frame.pts, frame.time_base = t_ms, Fraction(1, 1000)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(cls, seconds, rate, channels, seed), rate, subtype="PCM_16")
    return path


def cremad_name(actor: int, sentence: str, emotion: str, level: str = "XX") -> str:
    return f"{actor}_{sentence}_{emotion}_{level}"


def make_cremad_raw(root: Path, actors: range = range(1001, 1007), emotions: tuple[str, ...] = ("NEU", "HAP", "ANG"),
                    sentences: tuple[str, ...] = ("IEO", "TIE")) -> dict[str, str]:
    """A CREMA-D download (AudioWAV/*.wav at 16 kHz, VideoFlash/*.flv) plus the messy cases;
    returns {clip: what is wrong} for the bad ones."""
    seed = 0
    for actor in actors:
        for e, emotion in enumerate(emotions):
            for sentence in sentences:
                name = cremad_name(actor, sentence, emotion)
                write_clip(root / "VideoFlash" / f"{name}.flv", e, seconds=1.2, audio_rate=None, seed=seed)
                write_wav(root / "AudioWAV" / f"{name}.wav", e, seconds=1.2, seed=seed)
                seed += 1
    first = actors[0]
    # 48 kHz stereo audio and a variable-frame-rate video: both prepare fine
    write_wav(root / "AudioWAV" / f"{cremad_name(first, 'IEO', emotions[0])}.wav", 0, 1.2, 48000, 2, seed=99)
    write_clip(root / "VideoFlash" / f"{cremad_name(first, 'IEO', emotions[1])}.flv", 1, seconds=2.2,
               vfr=True, audio_rate=None, seed=98)
    bad = {}
    corrupt = cremad_name(first, "WSI", emotions[0])
    (root / "VideoFlash" / f"{corrupt}.flv").write_bytes(b"FLV\x01\x05" + bytes(range(256)) * 4)
    write_wav(root / "AudioWAV" / f"{corrupt}.wav", 0)
    bad[corrupt] = "not a readable media file"
    empty = cremad_name(first, "WSI", emotions[1])
    (root / "VideoFlash" / f"{empty}.flv").write_bytes(b"")
    write_wav(root / "AudioWAV" / f"{empty}.wav", 1)
    bad[empty] = "empty (0 bytes)"
    silent = cremad_name(first, "WSI", emotions[2])
    write_clip(root / "VideoFlash" / f"{silent}.flv", 2, audio_rate=None)
    bad[silent] = "missing from the download"  # no AudioWAV/<clip>.wav
    return bad


def make_ave_raw(root: Path, categories: tuple[str, ...] = ("Church bell", "Dog", "Frying (food)"),
                 per_split: dict[str, int] | None = None) -> None:
    """AVE: AVE/<VideoID>.mp4 and trainSet/valSet/testSet.txt (Annotations.txt too, with its header)."""
    per_split = per_split or {"train": 3, "val": 1, "test": 1}
    files = {"train": "trainSet.txt", "val": "valSet.txt", "test": "testSet.txt"}
    lines: dict[str, list[str]] = {s: [] for s in files}
    n = 0
    for c, category in enumerate(categories):
        for split, count in per_split.items():
            for _ in range(count):
                video = f"vid{n:05d}AB"
                write_clip(root / "AVE" / f"{video}.mp4", c, seconds=1.5, seed=n)
                lines[split].append(f"{category}&{video}&good&{n % 3}&{n % 3 + 5}")
                n += 1
    for split, name in files.items():
        (root / name).write_text("\n".join(lines[split]) + "\n")
    header = "Category&VideoID&Quality&StartTime&EndTime"
    (root / "Annotations.txt").write_text("\n".join([header] + sum(lines.values(), [])) + "\n")


def make_vggsound_raw(root: Path) -> dict[str, str]:
    """VGGSound: vggsound.csv (with a header) + video/{id}_{start:06d}.mp4, and the messy cases;
    returns {clip: what is wrong} for the bad ones."""
    rows = ["youtube_id,start_seconds,label,split"]
    n = 0
    for c, label in enumerate(("dog barking", "playing piano")):
        for split, count in (("train", 4), ("test", 2)):
            for _ in range(count):
                ytid, start = f"yt{n:09d}", 10 * n
                kwargs = {}
                if n == 1:
                    kwargs = {"audio_rate": 48000, "channels": 2}
                elif n == 2:
                    kwargs = {"vfr": True}
                write_clip(root / "video" / f"{ytid}_{start:06d}.mp4", c, seed=n, **kwargs)
                rows.append(f"{ytid},{start},{label},{split}")
                n += 1
    write_clip(root / "video" / "silentclip0_000030.mp4", 0, audio_rate=None)
    rows.append("silentclip0,30,dog barking,train")
    rows.append("notdownload,40,playing piano,train")
    (root / "vggsound.csv").write_text("\n".join(rows) + "\n")
    return {"silentclip0_000030": "has no audio track", "notdownload_000040": "missing from the download"}


def make_kinetics_folders(root: Path) -> None:
    """Kinetics class folders train/<label>/{id}_{start:06d}_{end:06d}.mp4, val/<label>/...; one
    label that is not a Kinetics-Sounds class."""
    n = 0
    for c, label in enumerate(("playing bagpipes", "tapping pen", "dancing ballet")):
        for split, count in (("train", 4), ("val", 2)):
            for _ in range(count):
                write_clip(root / split / label / f"ks{n:09d}_{n:06d}_{n + 10:06d}.mp4", c, seconds=1.0, seed=n)
                n += 1

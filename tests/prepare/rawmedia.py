"""Tiny real-format raw downloads written with PyAV: short clips with synthetic frames (a per-class
colour plus noise) and a tone per class, in each data set's raw layout, and the messy cases
(corrupt file, no audio track, 48 kHz stereo, variable frame rate)."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("av", reason="PyAV is needed to write test clips (pip install 'g2d[prepare]')")

from g2d.prepare.synthetic import write_clip, write_wav  # noqa: E402


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

"""CREMA-D: the release (``AudioWAV/<clip>.wav``, ``VideoFlash/<clip>.flv``; clip names
``ActorID_Sentence_EMOTION_Level``) -> the layout :mod:`g2d.data.cremad` reads: ``train.csv`` /
``test.csv`` (rows ``clip,EMOTION``), ``AudioWAV/<clip>.wav`` and ``Image-01-FPS/<clip>/*.jpg``.

Split (``split``): ``ogm-ge`` (default) is the published train/test clip list of OGM-GE (CVPR 2022),
which the G2D paper and most balancing papers use, shipped in ``g2d/prepare/lists``; ``speakers``
is g2d's own seeded split that holds out whole actors (``test_fraction`` of the 91, ranked by
SHA-256 of ``seed:actor``). Either way the loader carves validation from train.

Defaults follow OGM-GE's and G2D's preprocessing scripts: one frame per second (the first frame
of each second), frames at the decoded size, the release's own 16 kHz wav as the audio.
"""
from __future__ import annotations

import hashlib
import math
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from g2d.prepare.base import (PREPARERS, ClipJob, Layout, Plan, PrepareError, Preparer, SplitOptions, csv_text,
                              stable_rank)

EMOTIONS = ("NEU", "HAP", "SAD", "FEA", "DIS", "ANG")
#: the shipped OGM-GE lists and their SHA-256 (see g2d/prepare/lists/README.md)
PUBLISHED = {
    "train": ("cremad_ogm_ge_train.csv", "68d0d3fd253830328fc92c68f3cf2e215db8c5b86757ad9c5112d2c76ba68bde"),
    "test": ("cremad_ogm_ge_test.csv", "14866c99301fd56fb4a16f8a7048a8a6372a47069aee9f216443bc718be45f1f"),
}
SOURCE = "GeWu-Lab/OGM-GE_CVPR2022 data/CREMAD/{train,test}.csv @ 65a8324"


class CremadPrepareOptions(SplitOptions):
    split: Literal["ogm-ge", "speakers"] = Field("ogm-ge", description="ogm-ge: the published clip lists; "
                                                  "speakers: g2d's seeded actor-disjoint split")
    audio_source: Literal["wav", "video"] = Field("wav", description="wav: AudioWAV/<clip>.wav (the "
                                                  "release's audio); video: the .flv's audio track")
    video_dir: str = "VideoFlash"
    wav_dir: str = "AudioWAV"
    video_suffix: str = ".flv"


def parse_name(clip: str) -> tuple[str, str] | None:
    """``(actor, emotion)`` of a name ``ActorID_Sentence_EMOTION_Level``, or None."""
    parts = clip.split("_")
    if len(parts) != 4 or not parts[0].isdigit() or parts[2] not in EMOTIONS:
        return None
    return parts[0], parts[2]


def published_split() -> dict[str, str]:
    """clip -> "train"/"test" from the shipped OGM-GE lists, after checking their SHA-256."""
    out: dict[str, str] = {}
    folder = resources.files("g2d.prepare").joinpath("lists")
    for split, (name, digest) in PUBLISHED.items():
        data = folder.joinpath(name).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise PrepareError(f"g2d/prepare/lists/{name}: SHA-256 differs from the published list's "
                               f"({digest}); the installed g2d is damaged — reinstall it")
        for line in data.decode("utf-8-sig").splitlines():
            if line.strip():
                out[line.split(",")[0].strip()] = split
    return out


def speaker_split(clips: list[str], seed: int, fraction: float) -> dict[str, str]:
    """clip -> split, holding out ``ceil(fraction * actors)`` whole actors for test (seeded)."""
    actors = stable_rank({parse_name(c)[0] for c in clips}, seed)
    held = set(actors[:max(1, math.ceil(fraction * len(actors)))]) if len(actors) > 1 else set()
    return {c: "test" if parse_name(c)[0] in held else "train" for c in clips}


@PREPARERS.register("cremad", options=CremadPrepareOptions)
class Cremad(Preparer):
    """CREMA-D (AudioWAV + VideoFlash) -> train/test csv, AudioWAV/*.wav, Image-NN-FPS/<clip>/*.jpg."""

    name = "cremad"
    options: CremadPrepareOptions

    def layout(self) -> Layout:
        return Layout("AudioWAV", self.frames_dir())

    def frames_dir(self) -> str:
        o = self.options
        if o.sampling == "fps" and float(o.fps).is_integer():
            return f"Image-{int(o.fps):02d}-FPS"
        return "Image-" + (f"{o.fps:g}-FPS" if o.sampling == "fps" else f"{o.num_frames}-frames")

    def plan(self, raw: Path) -> Plan:
        o = self.options
        videos, wavs = raw / o.video_dir, raw / o.wav_dir
        if not videos.is_dir():
            raise PrepareError(f"{raw}: no {o.video_dir}/ folder; expected the CREMA-D release "
                               f"({o.video_dir}/*{o.video_suffix} and {o.wav_dir}/*.wav)")
        found = {p.name[:-len(o.video_suffix)] for p in videos.iterdir() if p.name.endswith(o.video_suffix)}
        if o.audio_source == "wav" and wavs.is_dir():
            found |= {p.stem for p in wavs.glob("*.wav")}
        bad = [(c, "file name is not ActorID_Sentence_EMOTION_Level with EMOTION in "
                   f"{'/'.join(EMOTIONS)}") for c in sorted(found) if parse_name(c) is None]
        named = sorted(c for c in found if parse_name(c) is not None)
        notes: dict[str, Any] = {"split": o.split}
        if o.split == "ogm-ge":
            split = published_split()
            notes.update({"split_source": SOURCE, "split_sha256": {k: v[1] for k, v in PUBLISHED.items()},
                          "unlisted_clips": sorted(set(named) - set(split))})
            clips = sorted(split)
        else:
            split = speaker_split(named, o.seed, o.test_fraction)
            notes.update({"seed": o.seed, "test_fraction": o.test_fraction, "speaker_disjoint": True,
                          "test_actors": sorted({parse_name(c)[0] for c, s in split.items() if s == "test"})})
            clips = named
        jobs = []
        for clip in clips:
            video = videos / f"{clip}{o.video_suffix}"
            audio = wavs / f"{clip}.wav" if o.audio_source == "wav" else video
            jobs.append(ClipJob(clip, parse_name(clip)[1], split[clip], video, audio))
        return Plan(jobs, notes, bad)

    def lists(self, done: list[ClipJob]) -> dict[str, str]:
        return {f"{split}.csv": csv_text((j.name, j.label) for j in done if j.split == split)
                for split in ("train", "test")}

    def loader_options(self) -> dict[str, Any]:
        frames = self.frames_dir()
        return {} if frames == "Image-01-FPS" else {"frames_dir": frames}

"""VGGSound: ``vggsound.csv`` (rows ``YouTubeID,start_seconds,label,split``, split train/test, with
or without a header) + one ``.mp4`` per row (``video/{id}_{start:06d}.mp4``) -> the layout
:mod:`g2d.data.vggsound` reads: the csv (prepared rows only), ``audio/<clip>.wav`` and
``frames/<clip>/*.jpg``.

Defaults follow the G2D paper's VGGSound scripts: one frame per second, 16 kHz audio, and the
clip's 10 s. :class:`ClipListPreparer` is the part AVE and Kinetics-Sounds share: rows
``(id, start, label, split)`` in, the VGGSound layout out.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from g2d.paths import require_file
from g2d.prepare.base import PREPARERS, ClipJob, Layout, MediaOptions, Plan, PrepareError, Preparer, csv_text

SPLITS = {"train": "train", "training": "train", "test": "test", "testing": "test", "val": "val",
          "valid": "val", "validation": "val", "validate": "val"}


class ClipListOptions(MediaOptions):
    """Options of the data sets laid out as VGGSound (one .mp4 per row of a list)."""

    max_seconds: float | None = Field(10.0, gt=0, description="use only the first this many seconds of each clip")
    video_dir: str = Field("video", description="folder of the .mp4 files inside RAW_DIR")
    video_name: str = Field("{id}_{start:06d}", description="file name (without .mp4) of a row's clip; "
                            "fields {id}, {start}, {end}")
    video_suffix: str = ".mp4"
    list_name: str = Field("vggsound.csv", description="the list file written to PREPARED_DIR "
                           "(data.options.csv of the loader)")


@dataclass(frozen=True)
class Row:
    """One clip of a list: YouTube id, start and end second, label, split, and where it was read."""

    id: str
    start: int
    end: int | None
    label: str
    split: str
    where: str

    @property
    def clip(self) -> str:
        return f"{self.id}_{self.start:06d}"  # the loader's default clip_name


class ClipListPreparer(Preparer):
    """Rows (id, start, label, split) + one video per row -> VGGSound layout. Subclasses write
    :meth:`rows` (and may locate videos differently in :meth:`video_path`)."""

    options: ClipListOptions

    def rows(self, raw: Path) -> tuple[list[Row], list[tuple[str, str]]]:
        raise NotImplementedError

    def video_path(self, raw: Path, row: Row) -> Path:
        o = self.options
        name = o.video_name.format(id=row.id, start=row.start, end=row.end if row.end is not None else row.start + 10)
        return raw / o.video_dir / f"{name}{o.video_suffix}"

    def layout(self) -> Layout:
        return Layout("audio", "frames")

    def plan(self, raw: Path) -> Plan:
        rows, bad = self.rows(raw)
        jobs, seen = [], {}
        for row in rows:
            if row.clip in seen:
                bad.append((row.clip, f"{row.where}: duplicate clip (first at {seen[row.clip]})"))
                continue
            seen[row.clip] = row.where
            video = self.video_path(raw, row)
            jobs.append(ClipJob(row.clip, row.label, row.split, video, video))
        return Plan(jobs, {"rows": len(rows)}, bad)

    def lists(self, done: list[ClipJob]) -> dict[str, str]:
        lines = []
        for job in done:
            ytid, start = job.name.rsplit("_", 1)
            lines.append((ytid, int(start), job.label, job.split))
        return {self.options.list_name: csv_text(lines)}

    def loader_options(self) -> dict[str, Any]:
        return {} if self.options.list_name == "vggsound.csv" else {"csv": self.options.list_name}


def read_rows(path: Path, what: str) -> list[tuple[int, list[str]]]:
    """Non-blank csv rows as ``(line, fields)``; PrepareError naming ``what`` when unreadable."""
    require_file(path, f"{what}: file", PrepareError)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return [(n, [f.strip() for f in r]) for n, r in enumerate(csv.reader(fh), 1) if any(f.strip() for f in r)]
    except (UnicodeDecodeError, csv.Error) as err:
        raise PrepareError(f"{what}: {str(path)!r} is not a readable UTF-8 csv ({err})") from None


def parse_second(text: str) -> int | None:
    try:
        return int(float(text))
    except ValueError:
        return None


class VGGSoundPrepareOptions(ClipListOptions):
    csv: str = Field("vggsound.csv", description="the published list inside RAW_DIR")


@PREPARERS.register("vggsound", options=VGGSoundPrepareOptions)
class VGGSound(ClipListPreparer):
    """VGGSound (vggsound.csv + video/*.mp4) -> vggsound.csv, audio/*.wav, frames/<clip>/*.jpg."""

    name = "vggsound"
    options: VGGSoundPrepareOptions

    def rows(self, raw: Path) -> tuple[list[Row], list[tuple[str, str]]]:
        path = raw / self.options.csv
        rows, bad = [], []
        for line, fields in read_rows(path, "csv"):
            where = f"{path.name} line {line}"
            if len(fields) != 4:
                bad.append((where, f"expected 4 fields 'YouTubeID,start_seconds,label,split', got {fields}"))
                continue
            ytid, start, label, split = fields
            second = parse_second(start)
            if second is None:
                if line != 1:  # line 1 may be a header
                    bad.append((where, f"start seconds {start!r} is not a number"))
                continue
            if split.lower() not in SPLITS:
                bad.append((where, f"split {split!r} is not one of train/val/test"))
                continue
            rows.append(Row(ytid, second, None, label, SPLITS[split.lower()], where))
        return rows, bad

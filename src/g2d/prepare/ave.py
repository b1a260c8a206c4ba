"""AVE (Audio-Visual Event, Tian et al. ECCV 2018): ``AVE/<VideoID>.mp4`` + ``trainSet.txt`` /
``valSet.txt`` / ``testSet.txt`` (rows ``Category&VideoID&Quality&StartTime&EndTime``) -> the
VGGSound layout (``ave.csv``, ``audio/``, ``frames/``) that ``configs/ave.yaml`` reads.

Each row is one sample labelled with its event category (28 classes); the whole 10 s video is used,
as the audio-visual balancing literature classifies AVE videos. A clip is named
``<VideoID>_<StartTime:06d>`` so two events of one video stay two samples. The published
train/val/test split is used as is (val included; nothing carved).
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field

from g2d.prepare.base import PREPARERS, read_lines
from g2d.prepare.vggsound import ClipListOptions, ClipListPreparer, Row, parse_second

SPLIT_FILES = {"train": "trainSet.txt", "val": "valSet.txt", "test": "testSet.txt"}


class AvePrepareOptions(ClipListOptions):
    video_dir: str = Field("AVE", description="folder of the .mp4 files inside RAW_DIR")
    video_name: str = Field("{id}", description="file name (without .mp4) of a row's video; "
                            "fields {id}, {start}, {end}")
    list_name: str = "ave.csv"


@PREPARERS.register("ave", options=AvePrepareOptions)
class Ave(ClipListPreparer):
    """AVE (AVE/*.mp4 + train/val/testSet.txt) -> ave.csv, audio/*.wav, frames/<clip>/*.jpg."""

    name = "ave"
    options: AvePrepareOptions

    def rows(self, raw: Path) -> tuple[list[Row], list[tuple[str, str]]]:
        rows, bad = [], []
        for split, name in SPLIT_FILES.items():
            for line, text in enumerate(read_lines(raw / name, f"AVE {split} list"), 1):
                where = f"{name} line {line}"
                fields = text.split("&")
                if len(fields) != 5:
                    bad.append((where, f"expected 'Category&VideoID&Quality&StartTime&EndTime', got {text!r}"))
                    continue
                category, video, _, start, end = fields
                first, last = parse_second(start), parse_second(end)
                if first is None or last is None:
                    if line != 1:  # a header line
                        bad.append((where, f"start/end {start!r}/{end!r} are not numbers"))
                    continue
                rows.append(Row(video, first, last, category, split, where))
        return rows, bad

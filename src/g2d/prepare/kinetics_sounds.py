"""Kinetics-Sounds: the Kinetics clips of the sound-bearing classes -> the VGGSound layout
(``kinetics_sounds.csv``, ``audio/``, ``frames/``) that ``configs/kinetics_sounds.yaml`` reads.

Raw layouts read: a Kinetics annotation csv (header with ``youtube_id``, ``time_start``,
``time_end``, ``label``, ``split``; clips ``videos/{id}_{start:06d}_{end:06d}.mp4``), or, without
one, class folders ``train/<label>/*.mp4`` and ``val/<label>/*.mp4`` (or ``test/``). Kinetics'
``val``/``validate`` split is the test split here: Kinetics' own test labels were withheld, and the
balancing literature tests on the validation clips. Validation is carved from train by the loader.

Classes (``classes``): the 34 Kinetics-Sounds classes of Arandjelović & Zisserman, "Look, Listen and
Learn" (ICCV 2017, appendix A1) that exist in Kinetics-400, under their Kinetics-400 names: 31
classes, the count the balancing papers report (typing, fingerpicking and patting are not
Kinetics-400 classes). Rows of other classes are left out (counted in prepare.json).
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field

from g2d.prepare.base import PREPARERS, PrepareError
from g2d.prepare.vggsound import SPLITS, ClipListOptions, ClipListPreparer, Row, parse_second, read_rows

#: L3 (Arandjelović & Zisserman 2017, A1) classes present in Kinetics-400, K-400 names
KINETICS_SOUNDS = [
    "blowing nose", "blowing out candles", "bowling", "chopping wood", "dribbling basketball", "laughing",
    "mowing lawn", "playing accordion", "playing bagpipes", "playing bass guitar", "playing clarinet",
    "playing drums", "playing guitar", "playing harmonica", "playing keyboard", "playing organ", "playing piano",
    "playing saxophone", "playing trombone", "playing trumpet", "playing violin", "playing xylophone",
    "ripping paper", "shoveling snow", "shuffling cards", "singing", "stomping grapes", "tap dancing",
    "tapping guitar", "tapping pen", "tickling"]
COLUMNS = ("youtube_id", "time_start", "time_end", "label", "split")


class KineticsSoundsPrepareOptions(ClipListOptions):
    csv: str | None = Field(None, description="Kinetics annotation csv inside RAW_DIR; null: class folders "
                            "train/<label>/*.mp4, val/<label>/*.mp4")
    video_dir: str = Field("videos", description="folder of the .mp4 files (with csv)")
    video_name: str = Field("{id}_{start:06d}_{end:06d}", description="file name (without .mp4) of a row's clip "
                            "(with csv); fields {id}, {start}, {end}")
    classes: list[str] | None = Field(default_factory=lambda: list(KINETICS_SOUNDS),
                                      description="labels kept (default the 31 Kinetics-Sounds classes); null: all")
    list_name: str = "kinetics_sounds.csv"


def split_of(name: str) -> str | None:
    """Kinetics split name -> g2d split: train -> train, val/validate/test -> test."""
    split = SPLITS.get(name.lower())
    return None if split is None else ("train" if split == "train" else "test")


@PREPARERS.register("kinetics-sounds", options=KineticsSoundsPrepareOptions)
class KineticsSounds(ClipListPreparer):
    """Kinetics-Sounds (Kinetics csv + videos, or class folders) -> kinetics_sounds.csv, audio/, frames/."""

    name = "kinetics-sounds"
    options: KineticsSoundsPrepareOptions

    def rows(self, raw: Path) -> tuple[list[Row], list[tuple[str, str]]]:
        rows, bad = self.csv_rows(raw) if self.options.csv else self.folder_rows(raw)
        keep = set(self.options.classes) if self.options.classes is not None else None
        return [r for r in rows if keep is None or r.label in keep], bad

    def video_path(self, raw: Path, row: Row) -> Path:
        if self.options.csv:
            return super().video_path(raw, row)
        return Path(row.where)  # class-folder rows carry their file

    def csv_rows(self, raw: Path) -> tuple[list[Row], list[tuple[str, str]]]:
        path = raw / self.options.csv
        table = read_rows(path, "csv")
        if not table:
            raise PrepareError(f"csv: {path} is empty; expected a header with {', '.join(COLUMNS)}")
        header = [h.lower() for h in table[0][1]]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise PrepareError(f"csv: {path} line 1: expected columns {list(COLUMNS)} (any order), "
                               f"missing {missing}; found {table[0][1]}")
        at = {c: header.index(c) for c in COLUMNS}
        rows, bad = [], []
        for line, fields in table[1:]:
            where = f"{path.name} line {line}"
            if len(fields) < len(header):
                bad.append((where, f"expected {len(header)} fields, got {len(fields)}"))
                continue
            start, end = parse_second(fields[at["time_start"]]), parse_second(fields[at["time_end"]])
            split = split_of(fields[at["split"]])
            if start is None or end is None or split is None:
                got = ", ".join(repr(fields[at[c]]) for c in ("time_start", "time_end", "split"))
                bad.append((where, f"time_start/time_end must be numbers and split train/val/test, got {got}"))
                continue
            rows.append(Row(fields[at["youtube_id"]], start, end, fields[at["label"]], split, where))
        return rows, bad

    def folder_rows(self, raw: Path) -> tuple[list[Row], list[tuple[str, str]]]:
        rows = []
        folders = [d for d in sorted(raw.iterdir()) if d.is_dir() and split_of(d.name)]
        if not folders:
            raise PrepareError(f"{raw}: found neither --set csv=FILE nor class folders train/<label>/*.mp4 and "
                               f"val/<label>/*.mp4; see docs/datasets/kinetics-sounds.md")
        for folder in folders:
            for label_dir in sorted(d for d in folder.iterdir() if d.is_dir()):
                for video in sorted(label_dir.glob(f"*{self.options.video_suffix}")):
                    ytid, start = parse_clip_name(video.name[:-len(self.options.video_suffix)])
                    rows.append(Row(ytid, start, None, label_dir.name, split_of(folder.name), str(video)))
        return rows, []


def parse_clip_name(stem: str) -> tuple[str, int]:
    """``{id}_{start:06d}_{end:06d}`` -> (id, start); any other stem -> (stem, 0)."""
    parts = stem.rsplit("_", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return parts[0], int(parts[1])
    return stem, 0

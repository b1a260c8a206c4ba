"""VGGSound: the published csv (rows ``YouTubeID,start_seconds,label,split``, no header; split is
``train`` or ``test``) + one wav per clip + one folder of frames per clip, both named by
``clip_name`` (default ``{id}_{start:06d}``). Same audio and frame pipeline as CREMA-D.

Classes are the sorted labels of the train rows unless ``classes`` lists them. Published
downloads usually miss some videos: ``skip_bad: true`` drops those (listed in data.json).
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field

from g2d.data.base import DatasetInfo, DataSplits
from g2d.data.common import AudioOptions, ClassList, drop_duplicates, file_splits, read_csv_rows
from g2d.data.cremad import AudioVisualOptions, av_pipeline
from g2d.data.preprocessed import Record
from g2d.data.registry import DATASETS
from g2d.data.validate import BadSamples, class_index
from g2d.validation import DataError

SPLIT_NAMES = {"train": "train", "test": "test", "val": "val", "valid": "val", "validation": "val"}


class VGGSoundOptions(AudioVisualOptions):
    csv: str = Field("vggsound.csv", description="YouTubeID,start,label,split rows")
    audio_dir: str = "audio"
    frames_dir: str = "frames"
    clip_name: str = Field("{id}_{start:06d}", description="file/folder name of a clip ({id}, {start})")
    classes: ClassList | None = Field(None, description="label names in class order; default: sorted train labels")
    audio: AudioOptions = Field(default_factory=lambda: AudioOptions(seconds=10.0))


def parse_rows(path: Path, opts: VGGSoundOptions, bad: BadSamples) -> list[tuple[str, str, str, str, str]]:
    """(where, clip, label, split, id) per usable row."""
    rows = []
    for line, fields in read_csv_rows(path, "data.options.csv"):
        where = f"{path.name} line {line}"
        if len(fields) != 4:
            bad.report(where, f"expected 4 fields 'YouTubeID,start_seconds,label,split', got {len(fields)}: "
                              f"{','.join(fields)!r}")
            continue
        ytid, start, label, split = fields
        if line == 1 and not start.lstrip("-").replace(".", "", 1).isdigit():
            continue  # a header row
        try:
            clip = opts.clip_name.format(id=ytid, start=int(float(start)))
        except ValueError:
            bad.report(where, f"start seconds {start!r} is not a number")
            continue
        if split.lower() not in SPLIT_NAMES:
            bad.report(where, f"split {split!r} is not one of train/val/test")
            continue
        rows.append((f"{where} (clip {clip})", clip, label, SPLIT_NAMES[split.lower()], ytid))
    return rows


@DATASETS.register("vggsound", options=VGGSoundOptions)
def vggsound(opts: VGGSoundOptions) -> DataSplits:
    """VGGSound-format folder: csv (id,start,label,split) + wav + frame folder per clip."""
    root = opts.root_path()
    bad = BadSamples(opts.skip_bad)
    rows = parse_rows(root / opts.csv, opts, bad)
    classes = opts.classes or sorted({label for _, _, label, split, _ in rows if split == "train"})
    if len(classes) < 2:
        raise DataError(f"{opts.csv}: expected at least 2 classes among the train rows, found {classes}")
    records: dict[str, list[Record]] = {"train": [], "test": []}
    for where, clip, label, split, _ in rows:
        target = class_index(label, classes, where, bad)
        if target is not None:
            sources = {"audio": root / opts.audio_dir / f"{clip}{opts.audio_suffix}",
                       "video": root / opts.frames_dir / clip}
            records.setdefault(split, []).append(Record(clip, sources, target, where))
    seen: dict[str, str] = {}
    for split in list(records):
        records[split] = drop_duplicates(records[split], bad, seen)
        if not records[split]:
            raise DataError(f"{opts.csv}: found an empty {split} split (0 rows); every split needs samples")
    pipeline, shapes = av_pipeline(opts.audio, opts.image)
    info = DatasetInfo(("audio", "video"), "classification", len(classes), shapes, tuple(classes))
    return file_splits(records, pipeline, info, opts, bad, f"vggsound-{root.name}", augment=opts.augment,
                       provenance={"source": str(root), "format": "vggsound", "classes": classes})

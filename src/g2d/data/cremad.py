"""CREMA-D, laid out as the release and the audio-visual balancing literature use it:
``train.csv`` / ``test.csv`` with rows ``clip,LABEL`` (no header), ``AudioWAV/<clip>.wav`` and one
folder of JPEG frames per clip (``Image-01-FPS/<clip>/*.jpg``). Folder and file names and the
class list are options, so any data set laid out this way loads.

Audio: mono, resample, tile/trim, log-magnitude STFT. Frames: evenly spaced, resize, normalise;
random crop/flip for training only when ``augment`` is on (teachers then run online).
"""
from __future__ import annotations

from pathlib import Path

import torch
from pydantic import Field

from g2d.data.base import DatasetInfo, DataSplits
from g2d.data.common import (AudioOptions, ClassList, FileLoaderOptions, ImageOptions, drop_duplicates,
                             encoder_spec, file_splits, read_csv_rows)
from g2d.data.image import FramesTransform
from g2d.data.preprocessed import Pipeline, Record
from g2d.data.registry import DATASETS
from g2d.data.validate import BadSamples, class_index

EMOTIONS = ["NEU", "HAP", "SAD", "FEA", "DIS", "ANG"]
HEADER_WORDS = {"clip", "name", "file", "filename", "id", "path"}


class AudioVisualOptions(FileLoaderOptions):
    """Options shared by the wav + frame-folder loaders (CREMA-D, VGGSound)."""

    audio_suffix: str = ".wav"
    audio: AudioOptions = Field(default_factory=AudioOptions)
    image: ImageOptions = Field(default_factory=ImageOptions)
    augment: bool = Field(False, description="random crop + flip of training frames (teachers run online)")
    width: float = Field(0.25, gt=0, description="ResNet-18 width multiplier of the default encoders "
                                                      "(1 = 64..512 channels)")

    def modality_names(self) -> list[str]:
        return ["audio", "video"]

    def default_encoders(self) -> dict[str, dict]:
        return {m: encoder_spec("resnet18", {"width": self.width}) for m in self.modality_names()}


class CremadOptions(AudioVisualOptions):
    train_csv: str = "train.csv"
    test_csv: str = "test.csv"
    val_csv: str | None = Field(None, description="optional; otherwise carved from train")
    audio_dir: str = "AudioWAV"
    frames_dir: str = "Image-01-FPS"
    classes: ClassList = Field(default_factory=lambda: list(EMOTIONS), description="label names, in class order")


def av_pipeline(audio: AudioOptions, image: ImageOptions) -> tuple[Pipeline, dict[str, tuple[int, ...]]]:
    """The shared audio + frames pipeline (CREMA-D, VGGSound); returns it and the final input shapes."""
    sound, frames = audio.transform(), image.frames()
    pipeline = Pipeline({"audio": sound, "video": frames},
                        {"audio": sound.output_shape(), "video": frames.stored_shape()},
                        f"{sound.describe()}; {frames.describe()}", {"video": _Crop(frames)})
    return pipeline, {"audio": sound.output_shape(), "video": frames.output_shape()}


class _Crop:
    """Picklable batch finisher: centre crop, or random crop + flip when augmenting."""

    def __init__(self, frames: FramesTransform) -> None:
        self.frames = frames

    def __call__(self, x: torch.Tensor, augment: bool) -> torch.Tensor:
        return self.frames.image.crop_batch(x, augment)


def read_clip_list(path: Path, what: str, opts: CremadOptions, root: Path, bad: BadSamples) -> list[Record]:
    records = []
    for line, fields in read_csv_rows(path, what):
        where = f"{path.name} line {line}"
        if line == 1 and fields[0].lower() in HEADER_WORDS:
            continue
        if len(fields) < 2 or not fields[0]:
            bad.report(where, f"expected 'clip,LABEL', got {','.join(fields)!r}")
            continue
        clip, label = fields[0], fields[1]
        target = class_index(label, opts.classes, f"{where} (clip {clip})", bad)
        if target is None:
            continue
        sources = {"audio": root / opts.audio_dir / f"{clip}{opts.audio_suffix}", "video": root / opts.frames_dir / clip}
        records.append(Record(clip, sources, target, f"{where} (clip {clip})"))
    return records


@DATASETS.register("cremad", options=CremadOptions)
def cremad(opts: CremadOptions) -> DataSplits:
    """CREMA-D-format folder: csv of clip,LABEL + AudioWAV/*.wav + a JPEG frame folder per clip."""
    root = opts.root_path()
    bad = BadSamples(opts.skip_bad)
    seen: dict[str, str] = {}
    records = {}
    for split, name in (("train", opts.train_csv), ("val", opts.val_csv), ("test", opts.test_csv)):
        if name is not None:
            rows = read_clip_list(root / name, f"data.options.{split}_csv", opts, root, bad)
            records[split] = drop_duplicates(rows, bad, seen)
    pipeline, shapes = av_pipeline(opts.audio, opts.image)
    info = DatasetInfo(("audio", "video"), "classification", len(opts.classes), shapes, tuple(opts.classes))
    return file_splits(records, pipeline, info, opts, bad, f"cremad-{root.name}", augment=opts.augment,
                       provenance={"source": str(root), "format": "cremad"})

"""``g2d prepare`` for the sets laid out as VGGSound (AVE, VGGSound, Kinetics-Sounds): raw .mp4
clips + their list -> the vggsound loader's layout; AVE then trains teachers and G2D through the CLI."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import soundfile as sf

from g2d.cli import main
from g2d.data import build_splits
from g2d.prepare import read_manifest, verify
from g2d.prepare.kinetics_sounds import KINETICS_SOUNDS
from tests.prepare.rawmedia import make_ave_raw, make_kinetics_folders, make_vggsound_raw
from tests.prepare.conftest import train_on_prepared

SMALL = {"audio": {"sample_rate": 8000, "seconds": 0.5, "n_fft": 64, "hop": 32, "size": [16, 16]},
         "image": {"size": 16, "num_frames": 1}, "width": 0.0625}


def rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_ave_keeps_the_published_three_splits_and_trains(tmp_path):
    make_ave_raw(tmp_path / "raw")
    out = tmp_path / "ave"
    assert main(["prepare", "ave", str(tmp_path / "raw"), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    listed = rows(out / "ave.csv")
    assert sorted({r[3] for r in listed}) == ["test", "train", "val"] and len(listed) == 15
    assert {r[2] for r in listed} == {"Church bell", "Dog", "Frying (food)"}
    assert all((out / "frames" / f"{r[0]}_{int(r[1]):06d}" / "00001.jpg").is_file() for r in listed)
    config = {"data": {"name": "vggsound", "batch_size": 4,
                       "options": {"root": "unset", "csv": "ave.csv", "cache_dir": str(tmp_path / "cache"), **SMALL}},
              "teachers": {"epochs": 1}, "student": {"epochs": 1},
              "method": {"name": "g2d", "options": {"phases": [1]}}, "device": "cpu", "analysis": {"track": False}}
    run = train_on_prepared(config, out, tmp_path)
    data = json.loads((run / "data.json").read_text())
    assert data["sizes"] == {"train": 9, "val": 3, "test": 3}
    assert data["provenance"]["validation"] == "given by the data set"


def test_vggsound_skips_clips_without_audio_or_download(tmp_path, capsys):
    bad = make_vggsound_raw(tmp_path / "raw")
    out = tmp_path / "vgg"
    code = main(["prepare", "vggsound", str(tmp_path / "raw"), "--out", str(out), "--workers", "2", "--quiet"])
    assert code == 2 and "--skip-bad" in capsys.readouterr().err
    assert main(["prepare", "vggsound", str(tmp_path / "raw"), "--out", str(out), "--workers", "2",
                 "--skip-bad", "--quiet"]) == 0
    skipped = {r[0]: r[1] for r in rows(out / "skipped.csv")[1:]}
    assert set(skipped) == set(bad) and all(why in skipped[c] for c, why in bad.items())
    assert len(rows(out / "vggsound.csv")) == 12
    stereo = sf.info(str(out / "audio" / "yt000000001_000010.wav"))
    assert (stereo.samplerate, stereo.channels) == (16000, 1)
    assert read_manifest(out)["options"]["max_seconds"] == 10.0 and verify(out).ok
    splits = build_splits("vggsound", {"root": str(out), "preprocessed_cache": False, **SMALL})
    assert (len(splits.train) + len(splits.val), len(splits.test)) == (8, 4)


def test_kinetics_sounds_from_class_folders_keeps_the_31_classes(tmp_path):
    assert len(KINETICS_SOUNDS) == 31 == len(set(KINETICS_SOUNDS))
    make_kinetics_folders(tmp_path / "raw")
    out = tmp_path / "ks"
    assert main(["prepare", "kinetics-sounds", str(tmp_path / "raw"), "--out", str(out), "--workers", "1",
                 "--quiet"]) == 0
    listed = rows(out / "kinetics_sounds.csv")
    assert {r[2] for r in listed} == {"playing bagpipes", "tapping pen"}  # dancing ballet is not a KS class
    assert sorted(r[3] for r in listed).count("test") == 4  # Kinetics' val clips are the test split
    assert listed[0][:2] == ["ks000000000", "0"] and (out / "audio" / "ks000000000_000000.wav").is_file()
    splits = build_splits("vggsound", {"root": str(out), "csv": "kinetics_sounds.csv", "preprocessed_cache": False,
                                       **SMALL})
    assert splits.info.class_names == ("playing bagpipes", "tapping pen")


def test_kinetics_sounds_from_the_annotation_csv(tmp_path):
    make_kinetics_folders(tmp_path / "folders")
    raw = tmp_path / "raw"
    lines = ["label,youtube_id,time_start,time_end,split"]
    for video in sorted((tmp_path / "folders").rglob("*.mp4")):
        ytid, start, end = video.stem.rsplit("_", 2)
        (raw / "videos").mkdir(parents=True, exist_ok=True)
        video.rename(raw / "videos" / video.name)
        lines.append(f"{video.parent.name},{ytid},{int(start)},{int(end)},"
                     f"{'validate' if video.parent.parent.name == 'val' else 'train'}")
    (raw / "k400.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "ks"
    assert main(["prepare", "kinetics-sounds", str(raw), "--out", str(out), "--set", "csv=k400.csv",
                 "--workers", "1", "--quiet"]) == 0
    assert len(rows(out / "kinetics_sounds.csv")) == 12


def test_a_malformed_list_line_is_named(tmp_path, capsys):
    make_ave_raw(tmp_path / "raw", per_split={"train": 2, "val": 1, "test": 1})
    with open(tmp_path / "raw" / "trainSet.txt", "a") as fh:
        fh.write("Dog&only-three&good\n")
    assert main(["prepare", "ave", str(tmp_path / "raw"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "trainSet.txt line 7" in err and "Category&VideoID&Quality&StartTime&EndTime" in err

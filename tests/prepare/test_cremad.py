"""``g2d prepare cremad``: a tiny CREMA-D download (with a corrupt, an empty and an audio-less clip,
48 kHz stereo audio and a variable-frame-rate video) -> the cremad loader's layout, then teachers and
a G2D student trained on it through the CLI; the published split; verify, compare, resume."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from g2d.cli import main
from g2d.prepare import compare, read_manifest, verify
from g2d.prepare.base import KILL_AFTER_ENV, STATE_DIR, recorded_files
from g2d.prepare.cremad import PUBLISHED, published_split
from tests.prepare.conftest import run_g2d, train_on_prepared

SPEAKERS = ["--set", "split=speakers", "--skip-bad", "--quiet"]


@pytest.fixture(scope="module")
def prepared(cremad_raw, tmp_path_factory) -> Path:
    raw, _ = cremad_raw
    out = tmp_path_factory.mktemp("cremad") / "prepared"
    assert main(["prepare", "cremad", str(raw), "--out", str(out), "--workers", "2", *SPEAKERS]) == 0
    return out


def rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_layout_lists_and_skipped_clips(prepared, cremad_raw):
    _, bad = cremad_raw
    skipped = {r[0]: r[1] for r in rows(prepared / "skipped.csv")[1:]}
    assert set(skipped) == set(bad)
    for clip, why in bad.items():
        assert why in skipped[clip]
    train, test = rows(prepared / "train.csv"), rows(prepared / "test.csv")
    assert len(train) + len(test) == 6 * 3 * 2 + 3 - 3  # 36 good clips + 3 messy-but-fine - 3 bad
    assert all(clip.split("_")[2] == label for clip, label in train + test)
    actors = lambda rs: {clip.split("_")[0] for clip, _ in rs}  # noqa: E731
    assert not actors(train) & actors(test)  # speaker-disjoint
    for clip, _ in train + test:
        assert (prepared / "AudioWAV" / f"{clip}.wav").is_file()
        assert sorted(p.name for p in (prepared / "Image-01-FPS" / clip).iterdir())[0] == "00000.jpg"
    assert not (prepared / STATE_DIR).exists()


def test_stereo_48k_becomes_mono_16k_and_vfr_keeps_one_frame_per_second(prepared):
    info = sf.info(str(prepared / "AudioWAV" / "1001_IEO_NEU_XX.wav"))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert info.frames == pytest.approx(1.2 * 16000, abs=200)
    # the 2.2 s variable-frame-rate clip: instants 0, 1, 2 s -> three frames; the 1.2 s clips: two
    assert len(list((prepared / "Image-01-FPS" / "1001_IEO_HAP_XX").glob("*.jpg"))) == 3
    assert len(list((prepared / "Image-01-FPS" / "1002_IEO_HAP_XX").glob("*.jpg"))) == 2


def test_prepare_json_records_versions_options_and_every_file(prepared):
    manifest = read_manifest(prepared)
    assert {"av", "ffmpeg", "pillow", "libjpeg", "libsndfile"} <= set(manifest["versions"])
    assert manifest["options"]["fps"] == 1.0 and manifest["options"]["split"] == "speakers"
    assert manifest["notes"]["speaker_disjoint"] is True
    files = recorded_files(manifest)
    on_disk = {str(p.relative_to(prepared)) for p in prepared.rglob("*") if p.is_file()}
    assert on_disk - set(files) == {"prepare.json", "skipped.csv"}
    assert verify(prepared).ok


def test_teachers_and_g2d_student_train_on_the_prepared_folder(prepared, tmp_path):
    config = {"data": {"name": "cremad", "batch_size": 8,
                       "options": {"root": "set-on-the-command-line", "classes": ["NEU", "HAP", "ANG"],
                                   "width": 0.0625, "cache_dir": str(tmp_path / "cache"),
                                   "audio": {"sample_rate": 8000, "seconds": 0.5, "n_fft": 64, "hop": 32,
                                             "size": [16, 16]},
                                   "image": {"size": 16}}},
              "teachers": {"epochs": 1}, "student": {"epochs": 1},
              "method": {"name": "g2d", "options": {"phases": [1]}}, "device": "cpu", "analysis": {"track": False}}
    run = train_on_prepared(config, prepared, tmp_path)
    result = json.loads((run / "students" / "g2d" / "result.json").read_text())
    test_size = len(rows(prepared / "test.csv"))
    assert result["test"]["num_samples"] == test_size
    assert set(result["test"]["modality_accuracy"]) == {"audio", "video"}


def test_without_skip_bad_the_first_bad_clip_is_named(cremad_raw, tmp_path, capsys):
    raw, bad = cremad_raw
    code = main(["prepare", "cremad", str(raw), "--out", str(tmp_path / "p"), "--set", "split=speakers",
                 "--workers", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--skip-bad" in err
    assert any(f"clip {clip!r}" in err for clip in bad)


def test_verify_names_a_changed_frame_and_compare_names_options(prepared, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(prepared, copy)
    frame = copy / "Image-01-FPS" / "1002_IEO_NEU_XX" / "00001.jpg"
    frame.write_bytes(frame.read_bytes()[:-10] + b"0123456789")
    (copy / "Image-01-FPS" / "1002_IEO_NEU_XX" / "extra.jpg").write_bytes(b"x")
    (copy / "AudioWAV" / "1003_TIE_ANG_XX.wav").unlink()
    assert main(["prepare", "--verify", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "changed: Image-01-FPS/1002_IEO_NEU_XX/00001.jpg" in out
    assert "missing: AudioWAV/1003_TIE_ANG_XX.wav" in out
    assert "unrecorded: Image-01-FPS/1002_IEO_NEU_XX/extra.jpg" in out
    other = read_manifest(prepared)
    other["options"]["jpeg_quality"] = 90
    other["versions"]["ffmpeg"] = "0.0"
    lines = compare(read_manifest(copy), other)
    assert "option jpeg_quality: 95 here, 90 there" in lines and any(l.startswith("version ffmpeg") for l in lines)
    assert compare(read_manifest(prepared), read_manifest(prepared))[0].startswith("identical")


def test_killed_prepare_resumes_to_the_same_checksums(prepared, cremad_raw, tmp_path):
    raw, _ = cremad_raw
    out = tmp_path / "resumed"
    args = ["prepare", "cremad", str(raw), "--out", str(out), "--workers", "1", *SPEAKERS]
    killed = run_g2d(*args, env={KILL_AFTER_ENV: "5"})
    assert killed.returncode == -9, killed.stderr
    assert len(list((out / STATE_DIR / "clips").glob("*.json"))) >= 5  # finished clips recorded
    assert not (out / "prepare.json").exists() and not (out / "train.csv").exists()
    done = run_g2d(*args)
    assert done.returncode == 0, done.stderr
    new, kept = (int(done.stdout.split()[i]) for i in (1, 4))  # "prepared N clip(s), kept M from ..."
    assert new + kept == 36 and kept >= 5
    assert recorded_files(read_manifest(out)) == recorded_files(read_manifest(prepared))
    assert verify(out).ok


def test_rerun_redoes_only_changed_clips(prepared, cremad_raw, tmp_path, capsys):
    raw, _ = cremad_raw
    copy_raw, out = tmp_path / "raw", tmp_path / "out"
    shutil.copytree(raw, copy_raw)
    args = ["prepare", "cremad", str(copy_raw), "--out", str(out), "--workers", "1", *SPEAKERS]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 0
    assert "prepared 0 clip(s), kept 36" in capsys.readouterr().out
    shutil.copy(copy_raw / "AudioWAV" / "1002_TIE_HAP_XX.wav", copy_raw / "AudioWAV" / "1002_IEO_HAP_XX.wav")
    assert main(args) == 0
    assert "prepared 1 clip(s), kept 35" in capsys.readouterr().out


def test_published_split_is_the_shipped_ogm_ge_lists(cremad_raw, tmp_path):
    split = published_split()
    assert len(split) == 7442 and sum(s == "test" for s in split.values()) == 744
    raw, _ = cremad_raw
    out = tmp_path / "ogm"
    assert main(["prepare", "cremad", str(raw), "--out", str(out), "--skip-bad", "--workers", "1", "--quiet"]) == 0
    manifest = read_manifest(out)
    assert manifest["notes"]["split_sha256"] == {k: v[1] for k, v in PUBLISHED.items()}
    for name in ("train", "test"):
        for clip, _ in rows(out / f"{name}.csv"):
            assert split[clip] == name
    skipped = rows(out / "skipped.csv")[1:]
    assert sum("missing from the download" in r[1] for r in skipped) >= 7442 - 39

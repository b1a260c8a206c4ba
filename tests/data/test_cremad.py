"""CREMA-D-format folders (real WAV + JPEG files): pipeline, preprocessed cache, bad inputs, skip_bad."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from g2d.data import build_splits
from g2d.data.preprocessed import FileDataset
from g2d.data.loader import make_loader
from g2d.validation import DataError

CLASSES = ["NEU", "HAP", "ANG"]


def load(root: Path, small: dict, tmp_path: Path, **extra) -> object:
    options = {"root": str(root), "classes": CLASSES, "cache_dir": str(tmp_path / "cache"), "val_fraction": 0.25,
               **small, **extra}
    return build_splits("cremad", options)


def test_loads_audio_spectrograms_and_frames(cremad_dir, small_audio_image, tmp_path):
    splits = load(cremad_dir, small_audio_image, tmp_path)
    assert splits.info.modalities == ("audio", "video")
    assert splits.info.input_shapes == {"audio": (1, 16, 16), "video": (3, 16, 16)}
    assert splits.info.class_names == tuple(CLASSES)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (9, 3, 6)
    assert sorted(splits.val.targets().tolist()) == [0, 1, 2]  # one per class: stratified
    assert splits.provenance["validation"] == "carved from train" and len(splits.provenance["ids"]) == 3
    batch = next(iter(make_loader(splits.train, 4, shuffle=False)))
    assert batch.inputs["audio"].shape == (4, 1, 16, 16) and batch.inputs["video"].shape == (4, 3, 16, 16)
    assert not splits.train.random_transform
    assert "resample to 8000 Hz" in splits.train.transform_description
    # class k's frames have grey level 40 + 60k: the mean of video inputs rises with the class
    test = splits.test.get_batch(list(range(len(splits.test))))
    means = [float(test.inputs["video"][test.target == k].mean()) for k in range(3)]
    assert means[0] < means[1] < means[2]


def test_cache_is_written_once_and_reused(cremad_dir, small_audio_image, tmp_path, monkeypatch):
    first = load(cremad_dir, small_audio_image, tmp_path)
    folders = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(folders) == 3 and all((tmp_path / "cache" / f / "manifest.json").exists() for f in folders)
    import g2d.data.preprocessed as pre

    monkeypatch.setattr(pre, "decode_all", lambda *a, **k: pytest.fail("decoded again despite a valid cache"))
    second = load(cremad_dir, small_audio_image, tmp_path)
    monkeypatch.undo()
    uncached = load(cremad_dir, small_audio_image, tmp_path, preprocessed_cache=False)
    assert uncached.train.cache_folder is None
    idx = list(range(len(first.train)))
    for a, b in ((first, second), (first, uncached)):
        x, y = a.train.get_batch(idx), b.train.get_batch(idx)
        for m in ("audio", "video"):
            assert torch.allclose(x.inputs[m], y.inputs[m], atol=1e-6)
    assert first.train.fingerprint() == second.train.fingerprint() == uncached.train.fingerprint()


def test_changed_file_invalidates_the_cache(cremad_dir, small_audio_image, tmp_path, files):
    before = load(cremad_dir, small_audio_image, tmp_path)
    clip = before.train.records[0].sources["audio"]
    files["wav"](clip, seconds=0.3, freq=900.0, seed=99)
    os.utime(clip, ns=(1, 1))
    after = load(cremad_dir, small_audio_image, tmp_path)
    assert after.train.fingerprint() != before.train.fingerprint()
    assert len(list((tmp_path / "cache").iterdir())) == 4  # a new train entry beside the old
    frame = sorted(before.test.records[0].sources["video"].iterdir())[0]
    files["jpg"](frame, value=250, side=30, seed=5)  # same folder, same names: only the content changed
    assert load(cremad_dir, small_audio_image, tmp_path).test.fingerprint() != before.test.fingerprint()


def test_augment_is_random_on_train_only(cremad_dir, small_audio_image, tmp_path):
    splits = load(cremad_dir, small_audio_image, tmp_path, augment=True)
    assert splits.train.random_transform and not splits.val.random_transform and not splits.test.random_transform
    torch.manual_seed(0)
    a = splits.train.get_batch([0, 1, 2, 3]).inputs["video"]
    b = splits.train.get_batch([0, 1, 2, 3]).inputs["video"]
    assert a.shape == (4, 3, 16, 16) and not torch.equal(a, b)
    assert torch.equal(splits.val.get_batch([0]).inputs["video"], splits.val.get_batch([0]).inputs["video"])


def test_worker_processes_read_the_memory_maps(cremad_dir, small_audio_image, tmp_path):
    splits = load(cremad_dir, small_audio_image, tmp_path, decode_workers=1)
    inline = [b.inputs["audio"] for b in make_loader(splits.test, 4, shuffle=False)]
    workers = [b.inputs["audio"] for b in make_loader(splits.test, 4, shuffle=False, num_workers=1)]
    assert all(torch.equal(a, b) for a, b in zip(inline, workers))


def test_several_frames_give_clips(cremad_dir, small_audio_image, tmp_path):
    small = {**small_audio_image, "image": {**small_audio_image["image"], "num_frames": 2}}
    splits = load(cremad_dir, small, tmp_path)
    assert splits.info.input_shapes["video"] == (2, 3, 16, 16)
    assert splits.train.get_batch([0, 1]).inputs["video"].shape == (2, 2, 3, 16, 16)


# ---- bad input ---------------------------------------------------------------------------------
def first_clip(root: Path, split: str = "train") -> tuple[str, str]:
    clip, label = (root / f"{split}.csv").read_text().splitlines()[0].split(",")
    return clip, label


def test_missing_wav_names_file_and_line(cremad_dir, small_audio_image, tmp_path):
    clip, _ = first_clip(cremad_dir)
    (cremad_dir / "AudioWAV" / f"{clip}.wav").unlink()
    with pytest.raises(DataError, match=rf"train.csv line 1 \(clip {clip}\): file .*{clip}.wav' does not exist"):
        load(cremad_dir, small_audio_image, tmp_path)


def test_truncated_wav(cremad_dir, small_audio_image, tmp_path, files):
    clip, _ = first_clip(cremad_dir, "test")
    files["truncate"](cremad_dir / "AudioWAV" / f"{clip}.wav")
    with pytest.raises(DataError, match=rf"test.csv line 1 \(clip {clip}\).*{clip}.wav' is truncated"):
        load(cremad_dir, small_audio_image, tmp_path)


def test_truncated_jpeg(cremad_dir, small_audio_image, tmp_path, files):
    clip, _ = first_clip(cremad_dir, "test")
    frame = sorted((cremad_dir / "Image-01-FPS" / clip).iterdir())[0]
    files["truncate"](frame)
    for f in sorted((cremad_dir / "Image-01-FPS" / clip).iterdir())[1:]:
        f.unlink()  # one frame left, so it is the one picked
    with pytest.raises(DataError, match=rf"test.csv line 1.*{frame.name}' is unreadable or truncated"):
        load(cremad_dir, small_audio_image, tmp_path, preprocessed_cache=False)


def test_label_outside_class_list(cremad_dir, small_audio_image, tmp_path):
    text = (cremad_dir / "test.csv").read_text().replace(",HAP", ",SURPRISE", 1)
    (cremad_dir / "test.csv").write_text(text)
    with pytest.raises(DataError, match=r"test.csv line \d+ .*label 'SURPRISE' is not one of the classes"):
        load(cremad_dir, small_audio_image, tmp_path)


def test_duplicate_clip_ids(cremad_dir, small_audio_image, tmp_path):
    line = (cremad_dir / "train.csv").read_text().splitlines()[0]
    with open(cremad_dir / "test.csv", "a") as fh:
        fh.write(line + "\n")
    with pytest.raises(DataError, match=r"test.csv line 7 .*duplicate id .*first at train.csv line 1"):
        load(cremad_dir, small_audio_image, tmp_path)


def test_empty_split(cremad_dir, small_audio_image, tmp_path):
    (cremad_dir / "test.csv").write_text("")
    with pytest.raises(DataError, match="empty split"):
        load(cremad_dir, small_audio_image, tmp_path)


def test_malformed_row(cremad_dir, small_audio_image, tmp_path):
    with open(cremad_dir / "train.csv", "a") as fh:
        fh.write("just_a_clip_name\n")
    with pytest.raises(DataError, match=r"train.csv line 13: expected 'clip,LABEL'"):
        load(cremad_dir, small_audio_image, tmp_path)


def test_skip_bad_drops_counts_and_lists(cremad_dir, small_audio_image, tmp_path, files):
    clips = [line.split(",")[0] for line in (cremad_dir / "train.csv").read_text().splitlines()]
    (cremad_dir / "AudioWAV" / f"{clips[0]}.wav").unlink()
    files["truncate"](cremad_dir / "AudioWAV" / f"{clips[5]}.wav")
    (cremad_dir / "test.csv").write_text((cremad_dir / "test.csv").read_text() + "9999_X_NEU_XX,NOPE\n")
    for cached in (True, True, False):  # build the cache, read it back, and without a cache
        splits = load(cremad_dir, small_audio_image, tmp_path, skip_bad=True, preprocessed_cache=cached)
        skipped = splits.provenance["skipped"]
        assert splits.provenance["num_skipped"] == 3
        assert {s["where"].split(" (")[0] for s in skipped} == {"train.csv line 1", "train.csv line 6",
                                                               "test.csv line 7"}
        assert len(splits.train) + len(splits.val) == 10 and len(splits.test) == 6
        assert isinstance(splits.train, FileDataset)

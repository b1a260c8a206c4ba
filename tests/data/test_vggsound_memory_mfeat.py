"""VGGSound csv layout, in-memory arrays (Python and .npz), and UCI mfeat views."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from g2d.data import build_splits
from g2d.data.memory import data_config, from_arrays, save_arrays
from g2d.validation import DataError
from tests.conftest import require_shared

SMALL = {"audio": {"sample_rate": 8000, "seconds": 0.25, "n_fft": 64, "hop": 32, "size": [16, 16]},
         "image": {"size": 16}}


def write_vggsound(root: Path, files: dict) -> Path:
    rows = []
    labels = ["dog barking", "playing piano"]
    for i in range(16):
        k, split = i % 2, "test" if i >= 12 else "train"
        ytid = f"vid{i:03d}-x"
        clip = f"{ytid}_{i * 10:06d}"
        files["wav"](root / "audio" / f"{clip}.wav", 0.2, 16000, 400 + 300 * k, seed=i)
        files["jpg"](root / "frames" / clip / "0001.jpg", 50 + 100 * k, 20, seed=i)
        label = f'"{labels[k]}"'
        rows.append(f"{ytid},{i * 10},{label},{split}")
    (root / "vggsound.csv").write_text("\n".join(rows) + "\n")
    return root


def test_vggsound_layout(tmp_path, files):
    root = write_vggsound(tmp_path / "vgg", files)
    splits = build_splits("vggsound", {"root": str(root), "cache_dir": str(tmp_path / "c"), "val_fraction": 0.25, **SMALL})
    assert splits.info.class_names == ("dog barking", "playing piano")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (8, 4, 4)
    assert splits.train.get_batch([0]).inputs["audio"].shape == (1, 1, 16, 16)


def test_vggsound_missing_videos_are_skipped_when_asked(tmp_path, files):
    root = write_vggsound(tmp_path / "vgg", files)
    import shutil

    shutil.rmtree(root / "frames" / "vid003-x_000030")
    with pytest.raises(DataError, match=r"vggsound.csv line 4 \(clip vid003-x_000030\): file .* does not exist"):
        build_splits("vggsound", {"root": str(root), "preprocessed_cache": False, **SMALL})
    splits = build_splits("vggsound", {"root": str(root), "preprocessed_cache": False, "skip_bad": True, **SMALL})
    assert splits.provenance["num_skipped"] == 1 and len(splits.train) + len(splits.val) == 11
    (root / "vggsound.csv").write_text((root / "vggsound.csv").read_text() + "x,notanumber,dog barking,train\n")
    with pytest.raises(DataError, match="line 17: start seconds 'notanumber' is not a number"):
        build_splits("vggsound", {"root": str(root), "preprocessed_cache": False, **SMALL})


def test_from_arrays_with_split_and_carved():
    rng = np.random.default_rng(0)
    inputs = {"a": rng.normal(size=(60, 4)), "b": rng.normal(size=(60, 2, 3))}
    labels = np.arange(60) % 3
    split = ["test" if i < 12 else "val" if i < 18 else "train" for i in range(60)]
    given = from_arrays(inputs, labels, split=split)
    assert (len(given.train), len(given.val), len(given.test)) == (42, 6, 12)
    assert given.info.input_shapes == {"a": (4,), "b": (2, 3)} and given.provenance["splits"] == "given"
    carved = from_arrays(inputs, labels, val_fraction=0.2, test_fraction=0.25, split_seed=1)
    assert (len(carved.train), len(carved.val), len(carved.test)) == (36, 9, 15)
    assert torch.bincount(carved.test.targets()).tolist() == [5, 5, 5]
    assert data_config(carved) == {"name": "arrays", "options": {"modalities": ["a", "b"], "task_type": "classification"}}


@pytest.mark.parametrize("case, message", [
    ("counts", r"inconsistent numbers of samples: \{'a': 60, 'b': 59, 'labels': 60\}"),
    ("nan", r"modality 'a': found NaN or Inf in 1 sample\(s\), first at sample 7"),
    ("label", r"label 9 at sample 3 is outside the classes 0..2"),
    ("dtype", r"modality 'a': expected a numeric array"),
    ("empty", r"empty split"),
])
def test_from_arrays_bad_input(case, message):
    rng = np.random.default_rng(0)
    a, b, y = rng.normal(size=(60, 4)), rng.normal(size=(60, 2)), np.arange(60) % 3
    if case == "counts":
        b = b[:59]
    elif case == "nan":
        a[7, 1] = np.nan
    elif case == "label":
        y[3] = 9
    elif case == "dtype":
        a = np.full((60, 4), "x")
    elif case == "empty":
        a, b, y = a[:0], b[:0], y[:0]
    with pytest.raises(DataError, match=message):
        from_arrays({"a": a, "b": b}, y, class_names=["x", "y", "z"] if case == "label" else None)


def test_save_arrays_round_trips_through_the_arrays_loader(tmp_path):
    rng = np.random.default_rng(0)
    inputs, labels = {"a": rng.normal(size=(40, 3)), "b": rng.normal(size=(40, 5))}, np.arange(40) % 2
    path = save_arrays(tmp_path / "d.npz", inputs, labels)
    splits = build_splits("arrays", {"path": str(path), "modalities": ["a", "b"]})
    direct = from_arrays(inputs, labels)
    whole = lambda split: split.get_batch(range(len(split))).inputs["a"]  # noqa: E731
    assert torch.equal(whole(splits.test), whole(direct.test))
    with pytest.raises(DataError, match="in-memory data has no file"):
        build_splits("arrays", {"modalities": ["a", "b"]})


def test_in_memory_splits_train_through_the_api(tmp_path):
    from g2d import api
    from g2d.config import parse_config

    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    inputs = {"a": rng.normal(size=(90, 4)) + y[:, None], "b": rng.normal(size=(90, 2))}
    splits = from_arrays(inputs, y)
    config = parse_config({"data": {**data_config(splits), "batch_size": 16}, "teachers": {"epochs": 1},
                           "student": {"epochs": 2}, "method": {"name": "g2d", "options": {"phases": [1]}},
                           "device": "cpu", "analysis": {"track": False}})
    summary = api.run_methods(config, tmp_path / "run", [api.MethodSpec.parse("g2d")], progress=False, splits=splits)
    test = summary["methods"]["g2d"]["test"]
    # 2 epochs on 72 samples: no margin holds on every CPU; every test sample is scored
    assert test["num_samples"] == 18 and test["accuracy"] * 18 == pytest.approx(round(test["accuracy"] * 18))
    assert (tmp_path / "run" / "data.json").exists()


def write_mfeat(root: Path, rows: int = 40) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    labels = np.arange(rows) % 4
    for view, dims in (("fac", 5), ("mor", 3), ("zer", 2)):
        x = rng.normal(size=(rows, dims)) + labels[:, None]
        header = ",".join(str(i) for i in range(dims + 1))
        np.savetxt(root / f"mfeat-{view}.csv", np.column_stack([x, labels]), delimiter=",", header=header, comments="")
    return root


def test_mfeat_views_carved_and_recorded(tmp_path):
    splits = build_splits("mfeat", {"root": str(write_mfeat(tmp_path)), "views": ["mor", "fac"], "test_fraction": 0.3})
    assert splits.info.modalities == ("mor", "fac") and splits.info.input_shapes == {"mor": (3,), "fac": (5,)}
    assert len(splits.test) == 12 and len(splits.train) + len(splits.val) == 28
    assert splits.provenance["test"]["stratified"] and splits.provenance["views"] == ["mor", "fac"]
    assert abs(float(splits.train.get_batch(range(len(splits.train))).inputs["fac"].mean())) < 1e-5


def test_mfeat_rows_must_align_across_views(tmp_path):
    root = write_mfeat(tmp_path)
    text = (root / "mfeat-mor.csv").read_text().splitlines()
    text[3] = text[3].rsplit(",", 1)[0] + ",3.000000000000000000e+00"
    (root / "mfeat-mor.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"mfeat-mor.csv row 4: label 3 differs from mfeat-fac.csv"):
        build_splits("mfeat", {"root": str(root), "views": ["fac", "mor"]})
    with pytest.raises(DataError, match="mfeat-pix.csv.*does not exist"):
        build_splits("mfeat", {"root": str(root), "views": ["fac", "pix"]})


def test_mfeat_on_the_real_files():
    splits = build_splits("mfeat", {"root": str(require_shared("mfeat"))})
    assert splits.info.modalities == ("fac", "fou", "kar", "mor", "pix", "zer")
    assert splits.info.input_shapes["pix"] == (240,) and splits.info.input_shapes["mor"] == (6,)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 2000 and len(splits.test) == 500

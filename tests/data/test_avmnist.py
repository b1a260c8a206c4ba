"""AV-MNIST-format folders: shapes, standardisation, carved validation, and every bad-input class."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from g2d.data import build_splits
from g2d.validation import DataError


def write_avmnist(root: Path, n_train: int = 40, n_test: int = 20, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n) % 10
        (root / "image").mkdir(parents=True, exist_ok=True)
        (root / "audio").mkdir(parents=True, exist_ok=True)
        np.save(root / "image" / f"{split}_data.npy", rng.integers(0, 256, (n, 28, 28)).astype(np.uint8))
        np.save(root / "audio" / f"{split}_data.npy", rng.normal(3.0, 2.0, (n, 112, 112)).astype(np.float32))
        np.save(root / f"{split}_labels.npy", labels.astype(np.int64))
    return root


def test_loads_with_channel_dim_standardised_and_carved_val(tmp_path):
    splits = build_splits("avmnist", {"root": str(write_avmnist(tmp_path)), "val_fraction": 0.2, "split_seed": 3})
    assert splits.info.input_shapes == {"image": (1, 28, 28), "audio": (1, 112, 112)}
    assert (len(splits.train), len(splits.val), len(splits.test)) == (30, 10, 20)
    assert torch.bincount(splits.val.targets(), minlength=10).tolist() == [1] * 10  # stratified
    assert splits.provenance["validation"]["carved from"] == "train" and splits.provenance["validation"]["split_seed"] == 3
    batch = splits.train.get_batch([0, 1, 2])
    assert batch.inputs["image"].shape == (3, 1, 28, 28) and batch.inputs["audio"].dtype == torch.float32
    audio = splits.train.get_batch(range(len(splits.train))).inputs["audio"]
    assert abs(float(audio.mean())) < 1e-3 and float(audio.std()) == pytest.approx(1.0, abs=1e-3)
    assert "train-split statistics" in splits.train.transform_description


def test_flat_images_are_accepted(tmp_path):
    root = write_avmnist(tmp_path)
    np.save(root / "image" / "train_data.npy", np.zeros((40, 784), np.float32))
    assert build_splits("avmnist", {"root": str(root)}).info.input_shapes["image"] == (1, 28, 28)


def test_missing_file(tmp_path):
    root = write_avmnist(tmp_path)
    (root / "audio" / "test_data.npy").unlink()
    with pytest.raises(DataError, match=r"audio/test_data.npy.*does not exist"):
        build_splits("avmnist", {"root": str(root)})


def test_wrong_shape(tmp_path):
    root = write_avmnist(tmp_path)
    np.save(root / "audio" / "train_data.npy", np.zeros((40, 100, 100), np.float32))
    with pytest.raises(DataError, match=r"audio/train_data.npy: expected per-sample shape \(1, 112, 112\).*\(40, 100, 100\)"):
        build_splits("avmnist", {"root": str(root)})


def test_wrong_dtype(tmp_path):
    root = write_avmnist(tmp_path)
    np.save(root / "image" / "train_data.npy", np.full((40, 28, 28), "x"))
    with pytest.raises(DataError, match="image/train_data.npy: expected a numeric array"):
        build_splits("avmnist", {"root": str(root)})


def test_label_outside_classes(tmp_path):
    root = write_avmnist(tmp_path)
    labels = np.arange(20) % 10
    labels[7] = 12
    np.save(root / "test_labels.npy", labels)
    with pytest.raises(DataError, match=r"test_labels.npy sample 7: label 12 is outside the classes 0..9"):
        build_splits("avmnist", {"root": str(root)})


def test_nan_names_the_sample_and_skip_bad_drops_it(tmp_path):
    root = write_avmnist(tmp_path)
    audio = np.load(root / "audio" / "train_data.npy")
    audio[5, 3, 3] = np.nan
    audio[9, 0, 0] = np.inf
    np.save(root / "audio" / "train_data.npy", audio)
    with pytest.raises(DataError, match=r"audio/train_data.npy sample 5: found NaN or Inf"):
        build_splits("avmnist", {"root": str(root)})
    splits = build_splits("avmnist", {"root": str(root), "skip_bad": True})
    assert splits.provenance["num_skipped"] == 2
    assert [s["where"] for s in splits.provenance["skipped"]] == ["audio/train_data.npy sample 5",
                                                                  "audio/train_data.npy sample 9"]
    assert len(splits.train) + len(splits.val) == 38


def test_inconsistent_counts(tmp_path):
    root = write_avmnist(tmp_path)
    np.save(root / "train_labels.npy", np.arange(39) % 10)
    with pytest.raises(DataError, match="inconsistent numbers of samples.*39"):
        build_splits("avmnist", {"root": str(root)})


def test_empty_split(tmp_path):
    root = write_avmnist(tmp_path)
    np.save(root / "image" / "test_data.npy", np.zeros((0, 28, 28), np.float32))
    np.save(root / "audio" / "test_data.npy", np.zeros((0, 112, 112), np.float32))
    np.save(root / "test_labels.npy", np.zeros(0, np.int64))
    with pytest.raises(DataError, match="empty split"):
        build_splits("avmnist", {"root": str(root)})


def test_unreadable_npy(tmp_path):
    root = write_avmnist(tmp_path)
    (root / "train_labels.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match="train_labels.npy.*not a readable .npy"):
        build_splits("avmnist", {"root": str(root)})

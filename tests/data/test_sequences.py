"""Feature sequences: npz (padded and ragged), masks, pickle opt-in, regression scaling, bad inputs."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from g2d.data import build_splits
from g2d.validation import DataError

MODS = ["text", "audio"]


def ragged(n: int, rng: np.random.Generator, widths=(5, 3)) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for m, f in zip(MODS, widths):
        lengths = rng.integers(2, 7, n)
        out[m] = rng.normal(size=(int(lengths.sum()), f)).astype(np.float32)
        out[f"{m}_lengths"] = lengths
    out["labels"] = np.arange(n) % 3
    out["ids"] = np.asarray([f"s{i}" for i in range(n)])
    return out


def write(root: Path, seed: int = 0, **changes) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 24), ("test", 9)):
        arrays = {**ragged(n, rng), **changes.get(split, {})}
        np.savez(root / f"{split}.npz", **arrays)
    return root


def test_ragged_npz_is_padded_with_masks(tmp_path):
    root = write(tmp_path)
    splits = build_splits("sequences", {"root": str(root), "modalities": MODS, "val_fraction": 0.25})
    raw = np.load(root / "test.npz")
    t_max = max(np.max(np.load(root / f"{s}.npz")["text_lengths"]) for s in ("train", "test"))
    assert splits.info.input_shapes["text"] == (t_max, 5) and splits.info.num_classes == 3
    batch = splits.test.get_batch([0, 1, 2])
    assert batch.masks["text"].dtype == torch.bool and batch.masks["text"].shape == (3, t_max)
    assert batch.masks["text"].sum(1).tolist() == raw["text_lengths"][:3].tolist()
    assert torch.all(batch.inputs["text"][~batch.masks["text"]] == 0)  # padding is zero
    assert (len(splits.train), len(splits.val)) == (18, 6)
    assert splits.provenance["validation"]["carved from"] == "train" and len(splits.provenance["validation"]["ids"]) == 6


def test_padded_npz_and_max_length(tmp_path):
    rng = np.random.default_rng(1)
    padded = {"text": rng.normal(size=(24, 8, 5)).astype(np.float32), "text_lengths": np.full(24, 8)}
    root = write(tmp_path, train=padded)
    splits = build_splits("sequences", {"root": str(root), "modalities": MODS, "max_length": 4})
    assert splits.info.input_shapes["text"] == (4, 5)
    assert splits.train.get_batch([0]).masks["text"].sum() == 4


def test_regression_targets_scaled_with_train_range(tmp_path):
    root = write(tmp_path, train={"labels": np.linspace(-3, 3, 24)}, test={"labels": np.linspace(-1, 5, 9)})
    splits = build_splits("sequences", {"root": str(root), "modalities": MODS, "task_type": "regression"})
    assert splits.info.task == "regression"
    lo, hi = splits.info.target_range
    assert -3.0 <= lo < hi <= 3.0
    assert float(splits.train.targets().min()) == 0.0 and float(splits.train.targets().max()) == 1.0
    assert float(splits.test.targets().max()) == pytest.approx((5 - lo) / (hi - lo))


def test_pickle_needs_explicit_opt_in(tmp_path):
    rng = np.random.default_rng(0)
    data = {}
    for split, n in (("train", 12), ("valid", 6), ("test", 6)):
        data[split] = {m: [rng.normal(size=(int(rng.integers(2, 5)), f)) for _ in range(n)] for m, f in zip(MODS, (4, 2))}
        data[split]["labels"] = np.arange(n) % 2
    (tmp_path / "data.pkl").write_bytes(pickle.dumps(data))
    options = {"root": str(tmp_path), "modalities": MODS, "format": "pickle"}
    with pytest.raises(DataError, match="refusing to load a pickle.*allow_pickle: true"):
        build_splits("sequences", options)
    splits = build_splits("sequences", {**options, "allow_pickle": True})
    assert (len(splits.train), len(splits.val), len(splits.test)) == (12, 6, 6)
    assert splits.provenance["validation"] == "given by the data set"


def test_missing_file(tmp_path):
    root = write(tmp_path)
    (root / "test.npz").unlink()
    with pytest.raises(DataError, match="test.npz.*does not exist"):
        build_splits("sequences", {"root": str(root), "modalities": MODS})


def test_missing_modality_array(tmp_path):
    root = write(tmp_path)
    with pytest.raises(DataError, match=r"train.npz: missing array 'video'"):
        build_splits("sequences", {"root": str(root), "modalities": ["text", "video"]})


def test_wrong_shape_names_the_sample(tmp_path):
    rng = np.random.default_rng(0)
    data = {split: {"text": [rng.normal(size=(4, 4)) for _ in range(n)], "audio": [np.ones((2, 2))] * n,
                    "labels": np.arange(n) % 2} for split, n in (("train", 8), ("test", 4))}
    data["train"]["text"][3] = np.ones((5, 3))
    (tmp_path / "data.pkl").write_bytes(pickle.dumps(data))
    with pytest.raises(DataError, match=r"train split sample 3 \(id 3\): modality 'text': expected shape \(T, 4\), "
                                        r"got \(5, 3\)"):
        build_splits("sequences", {"root": str(tmp_path), "modalities": MODS, "format": "pickle", "allow_pickle": True})


def test_feature_width_must_match_across_splits(tmp_path):
    root = write(tmp_path, test={"text": np.zeros((9, 6, 4), np.float32), "text_lengths": np.full(9, 6)})
    with pytest.raises(DataError, match=r"test split, modality 'text': 4 features, but train has 5"):
        build_splits("sequences", {"root": str(root), "modalities": MODS})


def test_nan_label_outside_and_skip_bad(tmp_path):
    rng = np.random.default_rng(0)
    arrays = ragged(24, rng)
    arrays["audio"][0, 0] = np.nan  # first step of sample 0
    arrays["labels"][5] = 7
    root = write(tmp_path, train=arrays)
    options = {"root": str(root), "modalities": MODS, "num_classes": 3}
    with pytest.raises(DataError, match=r"train split sample 0 \(id s0\): modality 'audio': found NaN or Inf"):
        build_splits("sequences", options)
    splits = build_splits("sequences", {**options, "skip_bad": True})
    assert splits.provenance["num_skipped"] == 2
    assert "label 7 is outside the classes 0..2" in splits.provenance["skipped"][1]["problem"]
    assert len(splits.train) + len(splits.val) == 22


def test_inconsistent_counts_and_duplicate_ids(tmp_path):
    rng = np.random.default_rng(0)
    arrays = ragged(24, rng)
    root = write(tmp_path, train={"labels": np.arange(23) % 3})
    with pytest.raises(DataError, match="inconsistent numbers of samples.*'labels': 23"):
        build_splits("sequences", {"root": str(root), "modalities": MODS})
    ids = arrays["ids"].copy()
    ids[4] = "s0"
    root = write(tmp_path / "dup", train={"ids": ids})
    with pytest.raises(DataError, match=r"duplicate ids \['s0'\].*rows \[0, 4\]"):
        build_splits("sequences", {"root": str(root), "modalities": MODS})


def test_string_labels_are_a_dtype_error(tmp_path):
    root = write(tmp_path, test={"labels": np.asarray(["a"] * 9)})
    with pytest.raises(DataError, match="test split labels: expected a numeric array"):
        build_splits("sequences", {"root": str(root), "modalities": MODS})

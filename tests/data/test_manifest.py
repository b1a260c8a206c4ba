"""A user's manifest (CSV / JSONL): file paths of every kind and inline numbers; image+table regression."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from g2d.data import build_splits
from g2d.data.manifest import ManifestOptions
from g2d.validation import DataError

SMALL = {"audio": {"sample_rate": 8000, "seconds": 0.25, "n_fft": 64, "hop": 32, "size": [16, 16]},
         "image": {"size": 16}}


def write_manifest(root: Path, files: dict, n: int = 30, split: bool = True, header_extra: str = "") -> Path:
    """id,audio,image,emb,vec,label[,split]: wav, jpg, npy (4,) and inline numbers per row."""
    lines = ["id,audio,image,emb,vec,label" + (",split" if split else "")]
    rng = np.random.default_rng(0)
    for i in range(n):
        k = i % 3
        files["wav"](root / "wav" / f"{i}.wav", 0.2, 8000, 300 + 200 * k, seed=i)
        files["jpg"](root / "img" / f"{i}.jpg", 40 + 60 * k, 20, seed=i)
        (root / "npy").mkdir(parents=True, exist_ok=True)
        np.save(root / "npy" / f"{i}.npy", (rng.normal(size=4) + k).astype(np.float32))
        row = f"r{i},wav/{i}.wav,img/{i}.jpg,npy/{i}.npy,\"{k} {i % 2} 0.5\",c{k}"
        lines.append(row + ("," + ("test" if i >= 24 else "train") if split else ""))
    (root / "m.csv").write_text("\n".join(lines) + "\n")
    return root / "m.csv"


def load(path: Path, tmp_path: Path, **extra):
    return build_splits("manifest", {"path": str(path), "modalities": ["audio", "image", "emb", "vec"],
                                     "cache_dir": str(tmp_path / "cache"), **SMALL, **extra})


def test_csv_with_every_kind(tmp_path, files):
    splits = load(write_manifest(tmp_path, files), tmp_path)
    assert splits.info.input_shapes == {"audio": (1, 16, 16), "image": (3, 16, 16), "emb": (4,), "vec": (3,)}
    assert splits.info.class_names == ("c0", "c1", "c2")
    assert splits.provenance["kinds"] == {"audio": "audio", "image": "image", "emb": "array", "vec": "numbers"}
    assert (len(splits.train) + len(splits.val), len(splits.test)) == (24, 6)
    vec = splits.train.get_batch(list(range(len(splits.train)))).inputs["vec"]
    assert vec.shape[1] == 3 and abs(float(vec[:, 0].mean())) < 0.3  # standardised with train statistics
    opts = ManifestOptions(path=str(tmp_path / "m.csv"), modalities=["audio", "image", "emb", "vec"])
    encoders = opts.default_encoders()
    assert encoders["emb"]["name"] == "mlp" and encoders["vec"]["name"] == "mlp"
    assert encoders["audio"]["name"] in ("resnet18", "mlp")


def test_without_split_column_test_and_val_are_carved_and_recorded(tmp_path, files):
    splits = load(write_manifest(tmp_path, files, split=False), tmp_path, test_fraction=0.2, split_seed=5)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (21, 3, 6)
    assert splits.provenance["test"]["carved from"] == "all rows" and splits.provenance["test"]["split_seed"] == 5
    assert len(splits.provenance["validation"]["ids"]) == 3
    assert torch.bincount(splits.test.targets()).tolist() == [2, 2, 2]


def test_jsonl_with_inline_lists_and_regression(tmp_path):
    rows = [{"id": i, "a": [float(i), 1.0], "b": i % 5, "y": 10.0 + i, "split": "test" if i >= 16 else "train"}
            for i in range(20)]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    splits = build_splits("manifest", {"path": str(tmp_path / "m.jsonl"), "modalities": ["a", "b"],
                                       "label_column": "y", "task_type": "regression", "preprocessed_cache": False})
    assert splits.info.task == "regression" and splits.info.input_shapes == {"a": (2,), "b": (1,)}
    lo, hi = splits.info.target_range
    assert 10.0 <= lo < hi <= 25.0
    assert float(splits.train.targets().min()) == 0.0 and float(splits.train.targets().max()) == 1.0


def test_missing_file(tmp_path, files):
    path = write_manifest(tmp_path, files)
    (tmp_path / "img" / "3.jpg").unlink()
    with pytest.raises(DataError, match=r"m.csv line 5: file .*img/3.jpg' does not exist"):
        load(path, tmp_path)


def test_truncated_wav(tmp_path, files):
    path = write_manifest(tmp_path, files)
    files["truncate"](tmp_path / "wav" / "25.wav")
    with pytest.raises(DataError, match=r"m.csv line 27: .*25.wav' is truncated"):
        load(path, tmp_path)


def test_wrong_npy_shape_and_dtype(tmp_path, files):
    path = write_manifest(tmp_path, files)
    np.save(tmp_path / "npy" / "26.npy", np.zeros(5, np.float32))
    with pytest.raises(DataError, match=r"m.csv line 28: modality 'emb': expected shape \(4,\), got \(5,\)"):
        load(path, tmp_path)
    np.save(tmp_path / "npy" / "26.npy", np.asarray(["a", "b", "c", "d"]))
    with pytest.raises(DataError, match=r"m.csv line 28: .*26.npy': expected a numeric array"):
        load(path, tmp_path)


def test_label_outside_given_classes(tmp_path, files):
    path = write_manifest(tmp_path, files)
    with pytest.raises(DataError, match=r"m.csv line 4: label 'c2' is not one of the classes \['c0', 'c1'\]"):
        load(path, tmp_path, classes=["c0", "c1"])


def test_bad_inline_numbers_and_nan(tmp_path, files):
    path = write_manifest(tmp_path, files)
    text = path.read_text().replace('"0 0 0.5"', '"0 zero 0.5"', 1)
    path.write_text(text)
    with pytest.raises(DataError, match=r"m.csv line 2: modality 'vec': expected inline numbers, got '0 zero 0.5'"):
        load(path, tmp_path)
    path.write_text(text.replace('"0 zero 0.5"', '"0 nan 0.5"'))
    with pytest.raises(DataError, match=r"m.csv line 2: modality 'vec': found NaN or Inf"):
        load(path, tmp_path)


def test_duplicate_ids_missing_columns_and_skip_bad(tmp_path, files):
    path = write_manifest(tmp_path, files)
    path.write_text(path.read_text().replace("r7,", "r2,", 1))
    with pytest.raises(DataError, match=r"m.csv line 9: duplicate id 'r2' \(first at m.csv line 4\)"):
        load(path, tmp_path)
    splits = load(path, tmp_path, skip_bad=True)
    assert splits.provenance["num_skipped"] == 1 and len(splits.train) + len(splits.val) == 23
    with pytest.raises(DataError, match=r"missing columns \['depth'\]"):
        build_splits("manifest", {"path": str(path), "modalities": ["audio", "depth"]})


def test_image_table_regression(tmp_path, files):
    lines = ["image,temp,rain,moisture"]
    for i in range(30):
        files["jpg"](tmp_path / "soil" / f"{i}.jpg", 30 + 6 * i, 20, seed=i)
        lines.append(f"soil/{i}.jpg,{15 + i % 7},{i * 0.5},{5.0 + i}")
    (tmp_path / "soil.csv").write_text("\n".join(lines) + "\n")
    splits = build_splits("image_table", {"path": str(tmp_path / "soil.csv"), "target_column": "moisture",
                                          "image": {"size": 16}, "cache_dir": str(tmp_path / "cache")})
    assert splits.info.modalities == ("image", "table") and splits.info.task == "regression"
    assert splits.info.input_shapes == {"image": (3, 16, 16), "table": (2,)}
    assert splits.provenance["table_columns"] == ["temp", "rain"] and splits.provenance["format"] == "image_table"
    lo, hi = splits.info.target_range
    assert 5.0 <= lo < hi <= 34.0
    assert float(splits.train.targets().min()) == 0.0 and float(splits.train.targets().max()) == 1.0
    assert len(splits.test) == 6

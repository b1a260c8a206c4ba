"""Statistics and label checks that no loader may let through silently, built over every loader that
standardises numbers (a manifest's inline numbers, an arrays .npz, feature sequences): large finite
values standardise in float64 (not to zeros), a constant modality is named, one class, a constant
regression target, a duplicated class or column are refused."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from g2d.data import build_splits
from g2d.data.memory import from_arrays, save_arrays
from g2d.data.validate import ConstantModalityWarning, check_class_list, first_varying_row
from g2d.validation import DataError

N = 40


def features(scale: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) features around ``scale`` that separate two classes, and the labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(N) % 2
    x = scale * (1.0 + 0.1 * y[:, None] + 0.01 * rng.normal(size=(N, 3)))
    return x, y


def manifest_loader(root: Path, x: np.ndarray, y: np.ndarray, task: str) -> dict:
    lines = ["id,x,label"] + [f"r{i},\"{' '.join(repr(float(v)) for v in row)}\",{t}" for i, (row, t) in
                              enumerate(zip(x, y))]
    (root / "m.csv").write_text("\n".join(lines) + "\n")
    return build_splits("manifest", {"path": str(root / "m.csv"), "modalities": ["x"], "task_type": task,
                                     "cache_dir": str(root / "cache"), "min_class_samples": 1})


def arrays_loader(root: Path, x: np.ndarray, y: np.ndarray, task: str) -> dict:
    save_arrays(root / "d.npz", {"x": x}, y)
    return from_arrays({"x": x}, y, task=task, standardize=True, min_class_samples=1)


def sequences_loader(root: Path, x: np.ndarray, y: np.ndarray, task: str) -> dict:
    half = len(x) * 3 // 4
    for split, part in (("train", slice(0, half)), ("test", slice(half, None))):
        np.savez(root / f"{split}.npz", x=np.repeat(x[part, None, :], 2, axis=1), labels=y[part])
    return build_splits("sequences", {"root": str(root), "modalities": ["x"], "task_type": task})


LOADERS: dict[str, Callable] = {"manifest": manifest_loader, "arrays": arrays_loader, "sequences": sequences_loader}


def train_inputs(splits) -> np.ndarray:
    batch = splits.train.get_batch(list(range(len(splits.train))))
    return batch.inputs["x"].numpy().reshape(len(splits.train), -1)


@pytest.mark.parametrize("scale", [1e-30, 1.0, 1e20, 1e30, 3e37])
@pytest.mark.parametrize("loader", LOADERS)
def test_large_and_small_finite_features_standardise_to_unit_scale(tmp_path, loader, scale):
    splits = LOADERS[loader](tmp_path, *features(scale), "classification")
    x = train_inputs(splits)
    assert np.isfinite(x).all()
    assert np.all(np.abs(x.mean(0)) < 0.2) and np.all((x.std(0) > 0.8) & (x.std(0) < 1.2))  # not zeroed


@pytest.mark.parametrize("loader", LOADERS)
def test_a_constant_modality_is_named(tmp_path, loader):
    _, y = features(1.0)
    with pytest.warns(ConstantModalityWarning, match=r"modality 'x' is constant over the train split"):
        LOADERS[loader](tmp_path, np.full((N, 3), 7.0), y, "classification")


def test_a_varying_modality_is_not_called_constant(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConstantModalityWarning)
        for loader in LOADERS.values():
            loader(tmp_path, *features(1.0), "classification")


@pytest.mark.parametrize("loader", LOADERS)
def test_a_data_set_with_one_class_is_refused(tmp_path, loader):
    x, _ = features(1.0)
    with pytest.raises(DataError, match=r"one class only"):
        LOADERS[loader](tmp_path, x, np.zeros(N, np.int64), "classification")


@pytest.mark.parametrize("loader", LOADERS)
def test_a_constant_regression_target_is_refused(tmp_path, loader):
    x, _ = features(1.0)
    with pytest.raises(DataError, match=r"target is constant over the train split \(all \d+ samples are 2.5\)"):
        LOADERS[loader](tmp_path, x, np.full(N, 2.5), "regression")


@pytest.mark.parametrize("classes, message", [(["a", "b", "a"], "class 'a' is listed 2 times"),
                                              (["only"], "at least two classes")])
def test_a_class_list_with_a_duplicate_or_one_class_is_refused(tmp_path, classes, message):
    with pytest.raises(DataError, match=message):
        check_class_list(classes, "data.options.classes")
    x, y = features(1.0)
    with pytest.raises(DataError, match=message):
        from_arrays({"x": x}, y, class_names=classes)
    for name, options in (("manifest", {"path": "m.csv", "modalities": ["x"], "classes": classes}),
                          ("cremad", {"root": str(tmp_path), "classes": classes}),
                          ("vggsound", {"root": str(tmp_path), "classes": classes}),
                          ("arrays", {"path": "d.npz", "modalities": ["x"], "class_names": classes})):
        with pytest.raises(ValueError, match=message):
            build_splits(name, options)


def test_a_header_that_names_a_column_twice_is_refused(tmp_path):
    (tmp_path / "m.csv").write_text("id,x,label,x\nr0,1,a,2\nr1,2,b,3\n")
    with pytest.raises(DataError, match=r"m.csv line 1: the header names column 'x' 2 times \(columns \[2, 4\]\)"):
        build_splits("manifest", {"path": str(tmp_path / "m.csv"), "modalities": ["x"]})
    (tmp_path / "m.jsonl").write_text(json.dumps({"x": 1, "label": "a"}) + "\n" + '{"x": 1, "label": "a", "x": 2}\n')
    with pytest.raises(DataError, match=r"m.jsonl line 2: the object names key 'x' twice"):
        build_splits("manifest", {"path": str(tmp_path / "m.jsonl"), "modalities": ["x"]})


def test_first_varying_row_reads_chunks_and_stops_at_the_first_difference():
    same = np.ones((10_000, 2))
    assert first_varying_row(same) is None and first_varying_row(same, np.arange(5)) is None
    same[9_000, 1] = 2.0
    assert first_varying_row(same, chunk=128) == 9_000
    assert first_varying_row(same, np.asarray([9_000, 3, 4])) == 1  # index into the given rows


def corrupt_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["corrupt member", "truncated"])
def test_a_damaged_npz_is_named_whatever_numpy_or_zipfile_raises(tmp_path, damage):
    x, y = features(1.0)
    rng = np.random.default_rng(0)
    big = rng.normal(size=(N, 2, 200))  # compressed members large enough to corrupt in the middle
    np.savez_compressed(tmp_path / "train.npz", x=big, labels=y)
    np.savez_compressed(tmp_path / "test.npz", x=big[:8], labels=y[:8])
    np.savez_compressed(tmp_path / "d.npz", x=big.reshape(N, -1), labels=y)
    for name in ("train.npz", "d.npz"):
        corrupt_middle(tmp_path / name) if damage == "corrupt member" else \
            (tmp_path / name).write_bytes((tmp_path / name).read_bytes()[:-300])
    with pytest.raises(DataError, match=r"train.npz: not a readable .npz file"):
        build_splits("sequences", {"root": str(tmp_path), "modalities": ["x"]})
    with pytest.raises(DataError, match=r"d.npz: not a readable .npz of numeric arrays"):
        build_splits("arrays", {"path": str(tmp_path / "d.npz"), "modalities": ["x"]})

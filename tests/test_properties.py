"""Property-based tests: the config loader, the manifest/CSV readers and the cache opener fed random
structures and bytes raise only the project's own error types (never a bare exception)."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from g2d.cache import _write_folder_atomically, cache_identity, open_cache
from g2d.config import load_config
from g2d.data import build_splits
from g2d.data.base import DatasetInfo, TensorDataset
from g2d.teachers import Teacher
from g2d.validation import G2DError

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.none() | st.booleans() | st.integers(-5, 300) | st.floats(allow_nan=True) | st.text(max_size=12)
SECTIONS = ["data", "model", "teachers", "student", "method", "analysis", "seed", "device", "precision",
            "name", "options", "epochs", "optim", "lr", "encoders", "fusion", "modulators", "phases",
            "batch_size", "num_classes", "strong", "weak", "missing_rates"]
keys = st.sampled_from(SECTIONS) | st.text(max_size=8)
structures = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(keys, inner, max_size=5), max_leaves=25)


@pytest.fixture
def folder():
    path = Path(tempfile.mkdtemp(prefix="g2d-prop-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def only_g2d_errors(call) -> None:
    try:
        call()
    except G2DError:
        pass


# ---- config loader -----------------------------------------------------------------------------

@SETTINGS
@given(data=st.binary(max_size=300))
def test_config_loader_on_random_bytes(folder, data):
    (folder / "c.yaml").write_bytes(data)
    only_g2d_errors(lambda: load_config(folder / "c.yaml"))


@SETTINGS
@given(raw=st.dictionaries(keys, structures, max_size=6))
def test_config_loader_on_random_structures(folder, raw):
    (folder / "c.yaml").write_text(yaml.safe_dump(raw))
    only_g2d_errors(lambda: load_config(folder / "c.yaml"))


@SETTINGS
@given(value=structures, key=st.lists(st.sampled_from(SECTIONS), min_size=1, max_size=3).map(".".join))
def test_config_overrides_of_random_values(folder, value, key):
    (folder / "c.yaml").write_text("student:\n  epochs: 2\n")
    only_g2d_errors(lambda: load_config(folder / "c.yaml", {key: value}))


# ---- manifest / CSV readers --------------------------------------------------------------------

cells = st.sampled_from(["1 2 3", "0.5", "", "x", "nan", "[1, 2]", "a.npy", "b.wav", "train", "test",
                         "val", "c0", "c1", "1e999", "\"", ",", "3 4"]) | st.text(max_size=6)


@SETTINGS
@given(rows=st.lists(st.lists(cells, min_size=1, max_size=5), max_size=30), header=st.booleans())
def test_manifest_reader_on_random_csv(folder, rows, header):
    lines = (["a,label,split"] if header else []) + [",".join(r) for r in rows]
    (folder / "m.csv").write_text("\n".join(lines) + "\n")
    only_g2d_errors(lambda: build_splits("manifest", {"path": str(folder / "m.csv"), "modalities": ["a"],
                                                      "cache_dir": str(folder / "pre")}))


@SETTINGS
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".jsonl"]))
def test_manifest_reader_on_random_bytes(folder, data, suffix):
    (folder / f"m{suffix}").write_bytes(data)
    only_g2d_errors(lambda: build_splits("manifest", {"path": str(folder / f"m{suffix}"), "modalities": ["a"],
                                                      "preprocessed_cache": False}))


@SETTINGS
@given(rows=st.lists(st.dictionaries(st.sampled_from(["a", "label", "split", "id"]), structures, max_size=4),
                     max_size=20))
def test_manifest_reader_on_random_jsonl(folder, rows):
    (folder / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    only_g2d_errors(lambda: build_splits("manifest", {"path": str(folder / "m.jsonl"), "modalities": ["a"],
                                                      "preprocessed_cache": False}))


# ---- cache opener ------------------------------------------------------------------------------

N, CLASSES, FEATURES = 12, 3, 5


def tiny_cache(folder: Path) -> tuple[Path, dict[str, Teacher], TensorDataset]:
    info = DatasetInfo(("a",), "classification", CLASSES, {"a": (2,)})
    train = TensorDataset({"a": torch.arange(2.0 * N).reshape(N, 2)}, torch.arange(N) % CLASSES, info)
    teachers = {"a": Teacher("a", None, {"weights_sha256": "ab" * 32})}  # only the card is read
    rng = np.random.default_rng(0)
    arrays = {"a.logits": rng.normal(size=(N, CLASSES)).astype(np.float32),
              "a.features": rng.normal(size=(N, FEATURES)).astype(np.float32)}
    _write_folder_atomically(folder / "cache", arrays, {**cache_identity(teachers, train),
                                                        "shapes": {k: list(v.shape) for k, v in arrays.items()}})
    return folder / "cache", teachers, train


@SETTINGS
@given(data=st.binary(max_size=300), target=st.sampled_from(["manifest.json", "a.logits.npy", "a.features.npy"]))
def test_cache_opener_on_random_bytes(folder, data, target):
    path, teachers, train = tiny_cache(folder)
    (path / target).write_bytes(data)
    only_g2d_errors(lambda: open_cache(path, teachers, train, torch.device("cpu")))


@SETTINGS
@given(edit=st.dictionaries(st.sampled_from(["format", "teachers", "train_fingerprint", "transform",
                                             "num_samples", "arrays", "shapes"]), structures, max_size=3))
def test_cache_opener_on_random_manifest_fields(folder, edit):
    path, teachers, train = tiny_cache(folder)
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, **edit}))
    only_g2d_errors(lambda: open_cache(path, teachers, train, torch.device("cpu")))


@SETTINGS
@given(shape=st.tuples(st.integers(0, 14), st.integers(0, 7)), dtype=st.sampled_from(["float32", "float64", "int32"]))
def test_cache_opener_on_arrays_of_random_shape_with_a_matching_fingerprint(folder, shape, dtype):
    from g2d.cache import file_fingerprint

    path, teachers, train = tiny_cache(folder)
    np.save(path / "a.logits.npy", np.zeros(shape, dtype=dtype))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["arrays"]["a.logits.npy"]["fingerprint"] = file_fingerprint(path / "a.logits.npy")
    (path / "manifest.json").write_text(json.dumps(manifest))
    if shape == (N, CLASSES) and dtype == "float32":
        open_cache(path, teachers, train, torch.device("cpu"))
    else:
        with pytest.raises(G2DError, match=r"expected a float32 array of shape \(12, 3\)"):
            open_cache(path, teachers, train, torch.device("cpu"))

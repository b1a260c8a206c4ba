"""Memory-mapped splits (AV-MNIST, in-memory arrays, .npz members): values and fingerprints as when
the splits were materialised, chunked scans equal to whole-array numpy, bounded resident memory."""
from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from g2d.data import build_splits
from g2d.data import mapped
from g2d.data.base import hash_arrays
from g2d.data.memory import from_arrays, save_arrays
from g2d.data.validate import bad_finite_rows
from g2d.validation import DataError

from data.test_avmnist import write_avmnist


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(mapped, "CHUNK_BYTES", 256)  # many chunks even on tiny arrays


def whole(split, modality):
    return split.get_batch(range(len(split))).inputs[modality]


def test_avmnist_arrays_stay_mapped_and_batches_are_standardised_with_float64_statistics(tmp_path, small_chunks):
    root = write_avmnist(tmp_path, n_train=60, n_test=10)
    splits = build_splits("avmnist", {"root": str(root), "val_fraction": 0.2})
    assert all(isinstance(a, np.memmap) for a in splits.train.sources.values())
    raw = np.load(root / "audio" / "train_data.npy").astype(np.float32)[splits.train.rows]
    mean = raw.astype(np.float64).mean()
    std = raw.astype(np.float64).std()
    expected = (raw[:, None] - np.float32(mean)) / np.float32(std)
    np.testing.assert_array_equal(whole(splits.train, "audio").numpy(), expected)
    assert splits.train.transforms["audio"].mean == pytest.approx(mean, rel=1e-12)
    assert f"audio: (x - {mean:.6g}) / {std:.6g}" in splits.train.transform_description


@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_from_arrays_batches_equal_the_materialised_split_bit_for_bit(standardize, dtype, small_chunks):
    rng = np.random.default_rng(0)
    a = (rng.normal(5, 3, (50, 4, 3)) * (100 if dtype == np.int16 else 1)).astype(dtype)
    b = rng.normal(0, 1, 50)  # one feature per sample (a 1-D array becomes (N, 1))
    labels = np.arange(50) % 5
    splits = from_arrays({"a": a, "b": b}, labels, standardize=standardize)
    for name, split in (("train", splits.train), ("val", splits.val), ("test", splits.test)):
        for m, x in (("a", a), ("b", b[:, None])):
            rows = split.rows
            if standardize:
                train = x[splits.train.rows].astype(np.float64)
                std = train.std(0)
                expected = (x[rows] - train.mean(0)) / np.where(std > 0, std, 1.0)
            else:
                expected = (x[rows] - 0.0) / 1.0
            materialised = torch.as_tensor(expected, dtype=torch.float32)
            assert torch.equal(whole(split, m), materialised), (name, m)
        tensors = [torch.as_tensor(whole(split, m)) for m in ("a", "b")] + [split.targets()]
        assert split.fingerprint() == hash_arrays(*tensors, extra=split.transform_description)


@pytest.mark.parametrize("shape", [(37, 6), (37, 1), (37, 3, 4), (1, 5)])
def test_feature_moments_equal_numpy_on_the_whole_array(shape, small_chunks):
    x = np.random.default_rng(1).normal(2, 7, shape).astype(np.float32)
    rows = np.arange(0, shape[0], 1 if shape[0] < 3 else 2)
    mean, std = mapped.feature_moments(x, rows)
    whole_rows = x[rows].astype(np.float64)
    assert np.array_equal(mean, whole_rows.mean(0)) and np.array_equal(std, whole_rows.std(0))


def test_chunked_finite_check_names_the_first_bad_sample(small_chunks):
    x = np.ones((40, 3, 3), np.float64)
    x[17, 1, 2], x[33, 0, 0] = np.nan, 1e300  # 1e300 overflows float32: Inf for training
    assert mapped.bad_rows_chunked(x).tolist() == bad_finite_rows(x).tolist() == [17]
    assert mapped.bad_rows_chunked(x, as_float32=True).tolist() == [17, 33]
    with pytest.raises(DataError, match=r"m: found NaN or Inf in 2 sample\(s\), first at sample 17 \(samples \[17, 33\]\)"):
        mapped.check_finite_chunked(x, "m")


def test_npz_members_are_memory_mapped_and_compressed_ones_still_load(tmp_path):
    rng = np.random.default_rng(2)
    inputs = {"a": rng.normal(size=(30, 4)).astype(np.float32), "b": rng.integers(0, 9, (30, 2, 2))}
    labels = np.arange(30) % 3
    path = save_arrays(tmp_path / "d.npz", inputs, labels)
    members = mapped.open_npz_members(path, ["a", "b"])
    assert all(isinstance(v, np.memmap) for v in members.values())
    assert np.array_equal(members["a"], inputs["a"]) and np.array_equal(members["b"], inputs["b"])
    np.savez_compressed(tmp_path / "c.npz", **inputs, labels=labels)
    packed = mapped.open_npz_members(tmp_path / "c.npz", ["a", "b"])
    assert not isinstance(packed["a"], np.memmap) and np.array_equal(packed["b"], inputs["b"])
    splits = build_splits("arrays", {"path": str(path), "modalities": ["a", "b"]})
    assert isinstance(splits.train.sources["a"], np.memmap)
    assert torch.equal(whole(splits.test, "a"), whole(from_arrays(inputs, labels).test, "a"))


def test_a_pickled_split_reopens_its_mapped_files_instead_of_copying_them(tmp_path):
    splits = build_splits("avmnist", {"root": str(write_avmnist(tmp_path, n_train=40, n_test=10))})
    blob = pickle.dumps(splits.train)
    assert len(blob) < 20_000  # the audio alone is 40 × 112 × 112 × 4 = 2 MB
    copy = pickle.loads(blob)
    assert isinstance(copy.sources["audio"], np.memmap)
    assert torch.equal(copy.get_batch([3, 1]).inputs["audio"], splits.train.get_batch([3, 1]).inputs["audio"])


def test_loading_an_avmnist_folder_keeps_private_memory_bounded_by_the_batch(tmp_path):
    """A 220 MB folder: the split is never copied into anonymous (private) memory; its pages are
    file-backed, which the kernel may drop."""
    root = tmp_path / "av"
    for split, n in (("train", 4000), ("test", 400)):
        for m, shape in (("image", (28, 28)), ("audio", (112, 112))):
            (root / m).mkdir(parents=True, exist_ok=True)
            out = np.lib.format.open_memmap(root / m / f"{split}_data.npy", "w+", np.float32, (n, *shape))
            for s in range(0, n, 500):
                out[s:s + 500] = np.float32(s % 7)
            out.flush()
            del out
        np.save(root / f"{split}_labels.npy", np.arange(n) % 10)
    script = textwrap.dedent(f"""
        from pathlib import Path
        def anon():
            line = [l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("RssAnon")][0]
            return int(line.split()[1]) // 1024
        import torch
        from g2d.data import build_splits
        from g2d.data.loader import make_loader
        start = anon()
        splits = build_splits("avmnist", {{"root": {str(root)!r}}})
        splits.train.fingerprint()
        for i, batch in enumerate(make_loader(splits.train, 64, shuffle=True)):
            pass
        print(anon() - start)
    """)
    grown = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
    assert grown < 60  # MiB; materialising the train split alone would take 4000 × 13328 × 4 B = 203 MiB

"""``g2d prepare mosi|mosei|urfunny|iemocap``: MultiBench-style pickles (built here) -> .npz the
sequences loader reads, only with --allow-pickle; a teacher trains on the result through the CLI."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from g2d.cli import main
from g2d.data import build_splits
from g2d.prepare import read_manifest
from tests.prepare.conftest import train_on_prepared


def split(n: int, labels: np.ndarray, rng: np.random.Generator, inf: bool = False) -> dict:
    part = {"text": rng.normal(size=(n, 6, 5)), "audio": rng.normal(size=(n, 6, 3)),
            "vision": rng.normal(size=(n, 6, 4)).astype(np.float32), "labels": labels,
            "id": [np.array([f"vid{i}", str(i)]) for i in range(n)]}
    if inf:
        part["audio"][0, 0, 0] = -np.inf
    return part


def write_pickle(path: Path, make_labels, inf: bool = False) -> Path:
    rng = np.random.default_rng(0)
    data = {name: split(n, make_labels(n, rng), rng, inf) for name, n in (("train", 40), ("valid", 12), ("test", 12))}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(data))
    return path


def test_a_pickle_is_refused_without_allow_pickle(tmp_path, capsys):
    write_pickle(tmp_path / "raw" / "humor.pkl", lambda n, r: r.integers(0, 2, (n, 1)))
    assert main(["prepare", "urfunny", str(tmp_path / "raw"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "refusing to open a pickle" in err and "--allow-pickle" in err
    assert not (tmp_path / "o" / "train.npz").exists()


def test_urfunny_converts_once_and_a_teacher_trains_on_the_npz(tmp_path):
    write_pickle(tmp_path / "raw" / "humor.pkl", lambda n, r: r.integers(0, 2, (n, 1)))
    out = tmp_path / "urfunny"
    assert main(["prepare", "urfunny", str(tmp_path / "raw"), "--out", str(out), "--allow-pickle"]) == 0
    with np.load(out / "train.npz", allow_pickle=False) as npz:
        assert npz["text"].shape == (40, 6, 5) and npz["labels"].dtype == np.int64 and npz["ids"][0] == "vid0_0"
    config = {"data": {"name": "sequences", "batch_size": 8,
                       "options": {"root": "unset", "modalities": ["text", "audio", "vision"]}},
              "model": {"encoders": {m: {"name": "transformer", "options": {"layers": 1, "width": 16}}
                                     for m in ("text", "audio", "vision")}},
              "teachers": {"epochs": 1}, "student": {"epochs": 3},
              "method": {"name": "g2d", "options": {"phases": [1, 1]}}, "device": "cpu", "analysis": {"track": False}}
    run = train_on_prepared(config, out, tmp_path)
    assert (run / "students" / "g2d" / "result.json").is_file()


def test_the_python_api_converts_the_same_way(tmp_path):
    from g2d.api import prepare

    pkl = write_pickle(tmp_path / "humor.pkl", lambda n, r: r.integers(0, 2, (n, 1)))
    result = prepare("urfunny", pkl, tmp_path / "out", {"allow_pickle": True})
    assert result.counts == {"train": 40, "val": 12, "test": 12} and result.skipped == []
    assert sorted(read_manifest(tmp_path / "out")["lists"]) == ["test.npz", "train.npz", "val.npz"]


def test_mosei_scores_regression_and_infinite_features_zeroed(tmp_path):
    write_pickle(tmp_path / "raw" / "mosei_senti_data.pkl", lambda n, r: r.uniform(-3, 3, (n, 1, 1)), inf=True)
    out = tmp_path / "mosei"
    assert main(["prepare", "mosei", str(tmp_path / "raw"), "--out", str(out), "--allow-pickle"]) == 0
    manifest = read_manifest(out)
    assert manifest["notes"]["nonfinite_set_to_zero"]["train/audio"] == 1
    assert manifest["loader_options"]["task_type"] == "regression"
    splits = build_splits("sequences", {"root": str(out), "modalities": ["text", "audio", "vision"],
                                        "task_type": "regression"})
    assert (len(splits.train), len(splits.val), len(splits.test)) == (40, 12, 12)
    binary = tmp_path / "binary"
    assert main(["prepare", "mosei", str(tmp_path / "raw"), "--out", str(binary), "--allow-pickle",
                 "--set", "labels=binary"]) == 0
    with np.load(binary / "test.npz") as npz:
        assert set(npz["labels"].tolist()) <= {0, 1}


def test_iemocap_one_hot_emotions_become_four_classes(tmp_path):
    def one_hot(n, rng):
        y = np.zeros((n, 4, 2))
        y[:, :, 0] = 1
        k = np.arange(n) % 4
        y[np.arange(n), k] = [0, 1]
        y[1] = [1, 0]  # no emotion marked: dropped
        return y
    write_pickle(tmp_path / "iemocap_data.pkl", one_hot)
    out = tmp_path / "iemocap"
    assert main(["prepare", "iemocap", str(tmp_path / "iemocap_data.pkl"), "--out", str(out), "--allow-pickle"]) == 0
    with np.load(out / "train.npz") as npz:
        assert npz["labels"].tolist()[:5] == [0, 2, 3, 0, 1] and len(npz["text"]) == 39
    assert read_manifest(out)["notes"]["dropped_without_label"] == {"train": 1, "val": 1, "test": 1}


def test_a_pickle_of_the_wrong_shape_is_named(tmp_path, capsys):
    (tmp_path / "mosi_raw.pkl").write_bytes(pickle.dumps({"train": {"text": np.zeros((2, 3))}}))
    assert main(["prepare", "mosi", str(tmp_path), "--out", str(tmp_path / "o"), "--allow-pickle"]) == 2
    assert "missing keys ['audio', 'vision', 'labels']" in capsys.readouterr().err

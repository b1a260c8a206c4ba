"""Raw text in a manifest: an image + text layout like FOOD-101's (image folders + a CSV of captions);
the tokenizer is trained on the train split, stored in the run folder and part of the fingerprint;
empty texts, undecodable files and over-long rows are named."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from g2d import api
from g2d.config import parse_config
from g2d.data import build_splits
from g2d.validation import ConfigError, DataError

WORDS = {0: "red tomato soup bowl", 1: "green salad leaves fresh", 2: "chocolate cake slice sweet"}


def write_food(root: Path, n: int = 36, caption=None) -> Path:
    """images/<class>/<i>.png (a colour per class, via Pillow) and captions.csv: image,caption,label,split."""
    from PIL import Image

    rng = np.random.default_rng(0)
    lines = ["image,caption,label,split"]
    for i in range(n):
        k = i % 3
        folder = root / "images" / f"c{k}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.clip(rng.normal(60 + 70 * k, 20, size=(12, 12, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
        text = caption(i, k) if caption else f"{WORDS[k]} number {i}"
        split = "test" if i >= 30 else "val" if i >= 24 else "train"
        lines.append(f"images/c{k}/{i}.png,\"{text}\",c{k},{split}")
    (root / "captions.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / "captions.csv"


def options(path: Path, tmp_path: Path, **text) -> dict:
    return {"path": str(path), "modalities": ["image", "caption"], "kinds": {"caption": "text"},
            "image": {"size": 12}, "text": {"vocab_size": 200, "max_tokens": 8, **text},
            "cache_dir": str(tmp_path / "cache"), "width": 0.125}


def test_captions_become_token_ids_from_a_tokenizer_of_the_train_split(tmp_path: Path) -> None:
    path = write_food(tmp_path, caption=lambda i, k: f"{WORDS[k]}" + (" zebra" if i >= 24 else ""))
    splits = build_splits("manifest", options(path, tmp_path))
    assert splits.info.input_shapes == {"image": (3, 12, 12), "caption": (8,)}
    assert splits.provenance["kinds"] == {"image": "image", "caption": "text"}
    text = splits.provenance["text"]["caption"]
    assert text["truncated_rows"] == 0 and len(text["tokenizer_sha256"]) == 64
    tokenizer = json.loads(splits.artifacts["tokenizers/caption.json"])
    vocab = tokenizer["model"]["vocab"]
    assert vocab["[PAD]"] == 0 and vocab["[UNK]"] == 1 and "zebra" not in vocab  # only val/test say zebra
    ids = splits.train.get_batch([0]).inputs["caption"][0]
    assert ids.tolist()[:4] == [vocab[w] for w in WORDS[0].split()] and ids.tolist()[4:] == [0] * 4
    assert splits.test.get_batch([0]).inputs["caption"][0].tolist()[4] == 1  # zebra -> [UNK]


def test_the_tokenizer_is_part_of_the_fingerprint(tmp_path: Path) -> None:
    path = write_food(tmp_path)
    a = build_splits("manifest", options(path, tmp_path))
    b = build_splits("manifest", options(path, tmp_path))
    c = build_splits("manifest", options(path, tmp_path, lowercase=False, vocab_size=150))
    assert a.train.fingerprint() == b.train.fingerprint()
    assert a.train.fingerprint() != c.train.fingerprint()


def test_long_captions_are_truncated_with_one_note(tmp_path: Path) -> None:
    path = write_food(tmp_path, caption=lambda i, k: WORDS[k] + (" and more words here" if i % 4 == 0 else ""))
    with pytest.warns(UserWarning, match=r"modality 'caption': 9 texts are longer than text.max_tokens = 6"):
        splits = build_splits("manifest", options(path, tmp_path, max_tokens=6))
    assert splits.provenance["text"]["caption"]["truncated_rows"] == 9


def test_empty_caption_names_file_row_and_column(tmp_path: Path) -> None:
    path = write_food(tmp_path, caption=lambda i, k: "" if i == 5 else WORDS[k])
    with pytest.raises(DataError, match=r"captions.csv line 7: column 'caption' is empty"):
        build_splits("manifest", options(path, tmp_path))


def test_undecodable_bytes_name_the_file(tmp_path: Path) -> None:
    path = write_food(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"red", "rød".encode("latin-1")))
    with pytest.raises(DataError, match=r"captions.csv' is not a readable UTF-8 CSV file"):
        build_splits("manifest", options(path, tmp_path))


def test_image_and_text_train_teachers_a_g2d_student_and_a_report(tmp_path: Path) -> None:
    from g2d.report import build_report

    path = write_food(tmp_path / "food")
    config = parse_config({
        "data": {"name": "manifest", "batch_size": 8, "options": options(path, tmp_path)},
        "model": {"encoders": {"caption": {"name": "transformer",
                                           "options": {"vocab_size": 200, "width": 16, "heads": 2, "layers": 1}}}},
        "teachers": {"epochs": 2, "optim": {"lr": 0.01}}, "student": {"epochs": 2, "optim": {"lr": 0.01}},
        "method": {"name": "g2d", "options": {"phases": [1], "ranking": "teacher", "schedule": "fixed"}},
        "device": "cpu"})
    run = tmp_path / "run"
    api.train_teachers(config, run, progress=False)
    student = api.train_student(config, run, progress=False, name="g2d")
    assert student.result.test["num_samples"] == 6
    assert set(student.result.test["modality_accuracy"]) == {"image", "caption"}
    tokenizer = json.loads((run / "tokenizers" / "caption.json").read_text())
    assert tokenizer["model"]["vocab"]["[PAD]"] == 0
    data = json.loads((run / "data.json").read_text())
    assert data["input_shapes"]["caption"] == [8]
    assert "word-level tokenizer sha256" in data["transform"]["train"]
    build_report([run], tmp_path / "report.html")
    assert (tmp_path / "report.html").exists()


def test_a_named_encoding_reads_the_file_and_an_unknown_one_is_a_config_error(tmp_path: Path) -> None:
    path = write_food(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"red", "rød".encode("latin-1")))
    splits = build_splits("manifest", {**options(path, tmp_path), "encoding": "latin-1"})
    vocab = json.loads(splits.artifacts["tokenizers/caption.json"])["model"]["vocab"]
    assert "rød" in vocab
    with pytest.raises(ConfigError, match=r"data.options.encoding.*unknown text encoding 'utf-9'"):
        parse_config({"data": {"name": "manifest", "options": {**options(path, tmp_path), "encoding": "utf-9"}}})

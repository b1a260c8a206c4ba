"""Every path a data loader is given — a manifest, a data root, an .npz, a CSV inside a root, one
image, one WAV, one frame folder — and every sample's own file name what is wrong with them as it
is (a symbolic link loop, a broken link, a folder where a file is expected, a file where a folder
is expected), never a blanket "does not exist"."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pytest

from g2d.data import build_splits
from g2d.data.audio import read_wav
from g2d.data.image import list_frames, read_image
from g2d.validation import DataError

FAULTS = ("loop", "broken-link", "wrong-kind")

PHRASES = {"loop": "is a symbolic link loop", "broken-link": "is a broken symbolic link",
           ("wrong-kind", "file"): "is a folder; expected a file",
           ("wrong-kind", "folder"): "is a file; expected a folder"}


def spoil(path: Path, fault: str, kind: str) -> str:
    """Replace whatever is at ``path`` by ``fault`` (for a path that should be a ``kind``); the
    phrase the error must hold."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    if fault == "loop":
        path.symlink_to(path)
    elif fault == "broken-link":
        path.symlink_to(path.parent / "gone")
    elif kind == "file":
        path.mkdir()
    else:
        path.write_text("not a folder\n")
    return PHRASES.get(fault) or PHRASES[(fault, kind)]


# ---- paths given as options, and single files read by the decoders ------------------------------

def manifest_csv(tmp_path: Path) -> tuple[Path, Callable]:
    """A small manifest of inline numbers; its ``path`` option."""
    rows = ["id,vec,label"] + [f"r{i},\"{i % 3} {i % 2}\",c{i % 3}" for i in range(24)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    opts = {"path": str(tmp_path / "m.csv"), "modalities": ["vec"], "preprocessed_cache": False}
    return tmp_path / "m.csv", lambda: build_splits("manifest", opts)


def manifest_base_dir(tmp_path: Path) -> tuple[Path, Callable]:
    path, _ = manifest_csv(tmp_path)
    (tmp_path / "base").mkdir()
    opts = {"path": str(path), "modalities": ["vec"], "base_dir": str(tmp_path / "base"), "preprocessed_cache": False}
    return tmp_path / "base", lambda: build_splits("manifest", opts)


def data_root(loader: str, **extra) -> Callable[[Path], tuple[Path, Callable]]:
    def target(tmp_path: Path) -> tuple[Path, Callable]:
        (tmp_path / "root").mkdir()
        return tmp_path / "root", lambda: build_splits(loader, {"root": str(tmp_path / "root"), **extra})
    return target


def cremad_csv(tmp_path: Path) -> tuple[Path, Callable]:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "train.csv").write_text("a,NEU\n")
    return tmp_path / "root" / "train.csv", lambda: build_splits("cremad", {"root": str(tmp_path / "root")})


def mfeat_view(tmp_path: Path) -> tuple[Path, Callable]:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "mfeat-pix.csv").write_text("a,label\n1,0\n")
    opts = {"root": str(tmp_path / "root"), "views": ["pix", "fou"]}
    return tmp_path / "root" / "mfeat-pix.csv", lambda: build_splits("mfeat", opts)


def arrays_npz(tmp_path: Path) -> tuple[Path, Callable]:
    (tmp_path / "d.npz").write_bytes(b"")
    opts = {"path": str(tmp_path / "d.npz"), "modalities": ["a"]}
    return tmp_path / "d.npz", lambda: build_splits("arrays", opts)


def one_wav(tmp_path: Path) -> tuple[Path, Callable]:
    return tmp_path / "a.wav", lambda: read_wav(tmp_path / "a.wav")


def one_image(tmp_path: Path) -> tuple[Path, Callable]:
    return tmp_path / "a.jpg", lambda: read_image(tmp_path / "a.jpg")


def frames_folder(tmp_path: Path) -> tuple[Path, Callable]:
    return tmp_path / "frames", lambda: list_frames(tmp_path / "frames")


TARGETS = {  # name -> (builder, what the path should be)
    "manifest csv": (manifest_csv, "file"),
    "manifest base_dir": (manifest_base_dir, "folder"),
    "cremad root": (data_root("cremad"), "folder"),
    "vggsound root": (data_root("vggsound"), "folder"),
    "mfeat root": (data_root("mfeat"), "folder"),
    "avmnist root": (data_root("avmnist"), "folder"),
    "sequences root": (data_root("sequences", modalities=["a"]), "folder"),
    "cremad train_csv": (cremad_csv, "file"),
    "mfeat view csv": (mfeat_view, "file"),
    "arrays npz": (arrays_npz, "file"),
    "wav file": (one_wav, "file"),
    "image file": (one_image, "file"),
    "frames folder": (frames_folder, "folder"),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("target", list(TARGETS))
def test_a_bad_path_is_named_with_what_is_wrong(tmp_path, target, fault):
    build, kind = TARGETS[target]
    path, load = build(tmp_path)
    phrase = spoil(path, fault, kind)
    with pytest.raises(DataError) as err:
        load()
    message = str(err.value)
    assert f"{str(path)!r} {phrase}" in message
    assert "does not exist" not in message.split(phrase)[0]  # not the blanket message before the reason


def test_a_missing_option_path_still_says_where_relative_paths_start(tmp_path):
    with pytest.raises(DataError, match=rf"data.options.root: folder '.*nowhere' does not exist \(relative paths"):
        build_splits("mfeat", {"root": str(tmp_path / "nowhere")})


# ---- one sample's own file: that sample's named error, or a skip under skip_bad ------------------

def load_cremad(root: Path, small: dict, tmp_path: Path, **extra):
    return build_splits("cremad", {"root": str(root), "cache_dir": str(tmp_path / "cache"), **small, **extra})


def first_clip(root: Path) -> str:
    return (root / "train.csv").read_text().splitlines()[0].split(",")[0]


SAMPLE_FILES = {  # name -> (path of the first train clip's source, what it should be)
    "wav": (lambda root, clip: root / "AudioWAV" / f"{clip}.wav", "file"),
    "frame folder": (lambda root, clip: root / "Image-01-FPS" / clip, "folder"),
    "frame": (lambda root, clip: root / "Image-01-FPS" / clip / "00000.jpg", "file"),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("source", list(SAMPLE_FILES))
@pytest.mark.parametrize("cache", [True, False])
def test_one_samples_bad_file_is_that_samples_error_or_skip(cremad_dir, small_audio_image, tmp_path, source,
                                                           fault, cache):
    clip = first_clip(cremad_dir)
    locate, kind = SAMPLE_FILES[source]
    if source == "frame":  # leave one frame, so the spoiled one is the one read
        for extra in sorted((cremad_dir / "Image-01-FPS" / clip).iterdir())[1:]:
            extra.unlink()
    path = locate(cremad_dir, clip)
    phrase = spoil(path, fault, kind)
    with pytest.raises(DataError) as err:
        load_cremad(cremad_dir, small_audio_image, tmp_path, preprocessed_cache=cache)
    message = str(err.value)
    assert message.startswith(f"train.csv line 1 (clip {clip}): ")
    assert f"{str(path)!r} {phrase}" in message and "does not exist" not in message.split(phrase)[0]

    splits = load_cremad(cremad_dir, small_audio_image, tmp_path, preprocessed_cache=cache, skip_bad=True)
    skipped = splits.provenance["skipped"]
    assert splits.provenance["num_skipped"] == 1 and skipped[0]["where"] == f"train.csv line 1 (clip {clip})"
    assert phrase in skipped[0]["problem"] and str(path) in skipped[0]["problem"]
    assert len(splits.train) + len(splits.val) == 11  # the other train clips are all there

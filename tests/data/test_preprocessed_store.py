"""The preprocessed-input cache's entries: listed, pruned by age and size, never one in use; checked on
open (a damaged entry is named and rebuilt), fully hashed by `g2d cache --verify`, and the staging
folders of killed builds removed."""
from __future__ import annotations

import gc
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from g2d.cli import main
from g2d.io import file_fingerprint
from g2d.data.preprocessed_store import list_entries, mark_in_use, prune


def make_entry(root: Path, name: str, mib: float, used_ago_s: float) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    np.save(folder / "a.npy", np.zeros(int(mib * 2**20) // 4, np.float32))
    (folder / "manifest.json").write_text(json.dumps({"created": "2026-01-01T00:00:00",
                                                      "made_by": f"g2d train {name}.yaml --out runs/{name}"}))
    used = time.time() - used_ago_s
    os.utime(folder / "manifest.json", (used, used))
    return folder


def test_list_shows_size_age_and_what_made_each_entry(tmp_path, capsys):
    make_entry(tmp_path, "old", 1.0, 10 * 86400)
    make_entry(tmp_path, "new", 0.5, 60)
    assert main(["cache", "--list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "g2d train old.yaml --out runs/old" in out and "10.0 d ago" in out
    assert "1.0 MiB" in out and "0.5 MiB" in out and "2 entries, 1.5 MiB in all" in out
    assert [e.path.name for e in list_entries(tmp_path)] == ["old", "new"]  # least recently used first


def test_prune_by_age_then_by_size_least_recently_used_first(tmp_path, capsys):
    for name, ago in (("a", 9 * 86400), ("b", 3 * 86400), ("c", 2 * 86400), ("d", 60)):
        make_entry(tmp_path, name, 1.0, ago)
    assert main(["cache", "--prune", "--older-than", "7", "--cache-dir", str(tmp_path)]) == 0
    assert "removed 1 entries (1.0 MiB)" in capsys.readouterr().out
    removed = prune(tmp_path, max_bytes=int(2.5 * 2**20))
    assert [e.path.name for e in removed] == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "d"]


def test_an_entry_in_use_is_never_pruned(tmp_path):
    busy = make_entry(tmp_path, "busy", 1.0, 30 * 86400)
    lease = mark_in_use(busy)
    os.utime(busy / "manifest.json", (0, 0))  # oldest of all, but held
    assert prune(tmp_path, older_than_s=0, max_bytes=0) == [] and busy.exists()
    del lease
    gc.collect()
    assert [e.path.name for e in prune(tmp_path, max_bytes=0)] == ["busy"] and not busy.exists()


def test_prune_without_a_criterion_says_which_options(tmp_path, capsys):
    assert main(["cache", "--prune", "--cache-dir", str(tmp_path)]) == 2
    assert "--older-than DAYS and/or --max-size GIB" in capsys.readouterr().err


def test_size_cap_evicts_entries_of_earlier_runs_but_not_those_in_use(tmp_path):
    from g2d.data import build_splits

    rows = ["v,label,split"] + [f"\"{i % 2} {i % 3} {i}\",c{i % 2},{'test' if i >= 24 else 'train'}"
                                for i in range(30)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    options = {"path": str(tmp_path / "m.csv"), "modalities": ["v"], "cache_dir": str(tmp_path / "pre")}
    first = build_splits("manifest", options)
    old = {e.path.name for e in list_entries(tmp_path / "pre")}
    assert len(old) == 3  # train, val, test
    del first
    gc.collect()
    second = build_splits("manifest", {**options, "standardize": False, "cache_max_gib": 1e-9})
    left = {e.path.name for e in list_entries(tmp_path / "pre")}
    assert left.isdisjoint(old) and len(left) == 3  # the old run's entries went, the three in use stayed
    assert second.train.cache_folder.name in left


# --- integrity: fingerprint on open, full hash on --verify, damaged entries rebuilt, stale staging removed

def build_entry(root: Path, cache: Path):
    """A manifest split decoded into the preprocessed cache; returns (train inputs, the train entry)."""
    import warnings

    from g2d.data import build_splits

    root.mkdir(parents=True, exist_ok=True)
    lines = ["id,x,img,label,split"]
    rng = np.random.default_rng(0)
    for i in range(12):
        np.save(root / f"{i}.npy", rng.normal(size=(64,)).astype(np.float32) + i % 2)
        lines.append(f"r{i},{i}.npy,{i}.npy,{'ab'[i % 2]},{'test' if i >= 10 else 'train'}")
    (root / "m.csv").write_text("\n".join(lines) + "\n")
    options = {"path": str(root / "m.csv"), "modalities": ["x"], "cache_dir": str(cache), "min_class_samples": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a sound entry opens without a word
        splits = build_splits("manifest", options)
    inputs = splits.train.get_batch(list(range(len(splits.train)))).inputs["x"]
    return options, inputs, splits.train.cache_folder


def zero_all(path: Path) -> None:
    path.write_bytes(bytes(path.stat().st_size))


def zero_data(path: Path) -> None:  # keeps the .npy header: np.load works, every value reads 0
    arr = np.load(path)
    np.save(path, np.zeros_like(arr))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def replace(path: Path) -> None:  # another array of the same shape and dtype
    arr = np.load(path)
    np.save(path, arr[::-1].copy())


def manifest_garbage(path: Path) -> None:
    (path.parent / "manifest.json").write_text('{"format": 2, "good": [0, 1')


def manifest_missing_hashes(path: Path) -> None:  # an entry of the previous format, or edited by hand
    info = json.loads((path.parent / "manifest.json").read_text())
    del info["arrays"]
    (path.parent / "manifest.json").write_text(json.dumps(info))


DAMAGE = {"zeroed": zero_all, "zeroed values": zero_data, "truncated": truncate, "replaced": replace,
          "deleted": lambda p: p.unlink(), "manifest not JSON": manifest_garbage,
          "manifest without hashes": manifest_missing_hashes}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_entry_is_named_and_rebuilt_never_read(tmp_path, damage):
    from g2d.data import build_splits

    options, inputs, folder = build_entry(tmp_path / "data", tmp_path / "cache")
    DAMAGE[damage](folder / "x.npy")
    with pytest.warns(UserWarning, match=rf"preprocessed-input cache entry {folder} is damaged \(.+\); rebuilding it"):
        splits = build_splits("manifest", options)
    assert torch.equal(splits.train.get_batch(list(range(len(splits.train)))).inputs["x"], inputs)
    assert splits.train.cache_folder == folder and not entry_problem_of(folder)
    _, again, _ = build_entry(tmp_path / "data", tmp_path / "cache")  # sound again: no warning
    assert torch.equal(again, inputs)


def entry_problem_of(folder: Path) -> str | None:
    from g2d.data.preprocessed import FORMAT_VERSION
    from g2d.data.preprocessed_store import entry_problem

    info = json.loads((folder / "manifest.json").read_text())
    return entry_problem(folder, {"x": (64,)}, info["num_records"], FORMAT_VERSION)


def test_verify_reads_every_byte_and_names_an_entry_whose_contents_changed(tmp_path, capsys):
    from g2d.data.preprocessed_store import verify_entries

    _, _, folder = build_entry(tmp_path / "data", tmp_path / "cache")
    assert main(["cache", "--verify", "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert f"{folder.name}: ok (1 arrays)" in out and "every array matches its recorded SHA-256" in out
    info = json.loads((folder / "manifest.json").read_text())
    arr = np.load(folder / "x.npy")
    arr[3, 5] += 1.0  # one value: the fingerprint on open may not see it, the full hash does
    np.save(folder / "x.npy", arr)
    info["arrays"]["x.npy"]["fingerprint"] = file_fingerprint(folder / "x.npy")
    (folder / "manifest.json").write_text(json.dumps(info))
    lines, bad = verify_entries(tmp_path / "cache")
    assert bad == [folder] and f"{folder.name}: CHANGED ['x.npy']" in lines
    assert main(["cache", "--verify", "--cache-dir", str(tmp_path / "cache")]) != 0
    err = capsys.readouterr().err
    assert str(folder) in err and "differ from what was built" in err and "Traceback" not in err


def test_staging_folders_of_killed_builds_are_removed_and_a_live_build_is_kept(tmp_path, capsys):
    from g2d.data.preprocessed_store import building, remove_stale_staging

    cache = tmp_path / "cache"
    killed = cache / ".manifest-m-train-0123.a1b2c3"
    killed.mkdir(parents=True)
    np.save(killed / "x.npy", np.zeros(1000, np.float32))
    live = cache / ".manifest-m-train-4567.d4e5f6"
    live.mkdir()
    for folder in (killed, live):
        os.utime(folder, (time.time() - 3600, time.time() - 3600))
    fresh = cache / ".manifest-m-train-89ab.000000"
    fresh.mkdir()  # made a moment ago: its build may not hold its lock yet
    with building(live):
        assert main(["cache", "--list", "--cache-dir", str(cache)]) == 0
        assert "removed 1 staging folders that interrupted builds left" in capsys.readouterr().out
        assert not killed.exists() and live.exists() and fresh.exists()
    assert remove_stale_staging(cache) == [live]  # its build ended without publishing it


def test_a_build_removes_what_killed_builds_left(tmp_path):
    cache = tmp_path / "cache"
    killed = cache / ".manifest-m-train-0123.a1b2c3"
    killed.mkdir(parents=True)
    os.utime(killed, (0, 0))
    build_entry(tmp_path / "data", cache)
    assert not killed.exists() and not [p for p in cache.iterdir() if p.name.startswith(".")]

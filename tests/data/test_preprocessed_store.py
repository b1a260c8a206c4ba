"""The preprocessed-input cache's entries: listed, pruned by age and size, never one in use."""
from __future__ import annotations

import gc
import json
import os
import time
from pathlib import Path

import numpy as np

from g2d.cli import main
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

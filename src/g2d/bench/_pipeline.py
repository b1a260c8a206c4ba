"""``g2d bench speed`` sections on the input side: the teacher cache at VGGSound scale, read
without loading it, and the input pipeline with and without the preprocessed-input cache."""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from g2d.bench.grid import markdown_table
from g2d.cache import TeacherCache
from g2d.data.base import Batch
from g2d.runtime import move_batch

_STATUS = Path("/proc/self/status")


def memory_status() -> dict[str, float]:
    """This process's RSS split (MiB): anonymous (private heap) and file-backed (mapped files,
    page cache the kernel can drop)."""
    if not _STATUS.exists():
        return {}
    out = {}
    for line in _STATUS.read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(line.split()[1]) / 1024
    return out


def write_big_cache(folder: Path, samples: int, modalities: int, classes: int, features: int,
                    chunk: int = 20_000) -> list[str]:
    """Random float32 arrays in the cache's layout, written chunk by chunk through ``open_memmap``
    (never whole in memory)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = [f"m{k}" for k in range(modalities)]
    for m in names:
        for kind, width in (("logits", classes), ("features", features)):
            arr = np.lib.format.open_memmap(folder / f"{m}.{kind}.npy", mode="w+", dtype=np.float32,
                                            shape=(samples, width))
            for start in range(0, samples, chunk):
                stop = min(samples, start + chunk)
                arr[start:stop] = rng.standard_normal((stop - start, width), dtype=np.float32)
            arr.flush()
            del arr
    return names


def integrity_check_cost(folder: Path) -> dict[str, float]:
    """Seconds to check a cache's arrays on open: the cheap fingerprint ``open_cache`` checks and
    the full SHA-256 ``g2d cache --verify`` checks, from disk (pages evicted) and from the page cache."""
    from g2d.io import file_fingerprint, file_sha256

    files = sorted(folder.glob("*.npy"))
    timed = {}
    for label, check in (("fingerprint", file_fingerprint), ("sha256", file_sha256)):
        _drop_pages(folder)
        start = time.perf_counter()
        for f in files:
            check(f)
        timed[f"{label}_cold_s"] = time.perf_counter() - start
        start = time.perf_counter()
        for f in files:
            check(f)
        timed[f"{label}_warm_s"] = time.perf_counter() - start
    return timed


def cache_memory_section(args: argparse.Namespace, lookup: dict[str, float], work: Path) -> tuple[str, dict[str, Any]]:
    m, c, d = 2, args.big_cache_classes, args.big_cache_features
    per_sample = m * (c + d) * 4
    record: dict[str, Any] = {"bytes_per_sample": per_sample, **lookup}
    lines = [f"### Teacher-output cache\n",
             f"- Reads as a share of the G2D step above: {1e6 * lookup['lookup_s']:.1f} µs per batch of "
             f"{args.batch_size} vs {1e3 * lookup['step_s']:.2f} ms per step = **{100 * lookup['share']:.2f} %** "
             f"(goal ≤ 1 %).",
             f"- State per sample: M × (C + D) float32 = {m} × ({c} + {d}) × 4 B = **{per_sample} B**; "
             f"200k samples = {200_000 * per_sample / 2**30:.2f} GiB on disk."]
    n = args.big_cache_samples
    if n > 0:
        folder = work / "big-cache"
        start = time.perf_counter()
        names = write_big_cache(folder, n, m, c, d)
        written = time.perf_counter() - start
        _drop_pages(folder)  # as if the cache were larger than RAM: the first reads go to disk
        before = memory_status()
        logits = {k: np.load(folder / f"{k}.logits.npy", mmap_mode="r") for k in names}  # as open_cache does
        feats = {k: np.load(folder / f"{k}.features.npy", mmap_mode="r") for k in names}
        cache = TeacherCache(folder, logits, feats, torch.device("cpu"), resident_bytes=0)  # always read from disk
        opened = memory_status()
        cold = _read_batches(cache, n, args.batch_size, args.big_cache_reads, seed=0)
        after = memory_status()
        per_read = _read_batches(cache, n, args.batch_size, args.big_cache_reads, seed=0)  # same rows, now cached
        size = sum(p.stat().st_size for p in folder.glob("*.npy"))
        checks = integrity_check_cost(folder)
        record["integrity"] = checks
        grow = lambda key: after.get(key, 0) - before.get(key, 0)  # noqa: E731
        record.update({"samples": n, "file_bytes": size, "write_s": written, "read_s": per_read, "cold_read_s": cold,
                       "rss_before": before, "rss_opened": opened, "rss_after": after})
        rows = [["cache on disk", f"{size / 2**20:.0f} MiB ({n} samples, written in {written:.1f} s)"],
                ["random batch read, from disk (the files' pages evicted first)",
                 f"{1e6 * cold:.0f} µs per batch of {args.batch_size} ({args.big_cache_reads} batches)"],
                ["the same batches again, from the page cache", f"{1e6 * per_read:.0f} µs per batch"],
                ["rows read", f"{args.big_cache_reads * args.batch_size} of {n} "
                              f"({args.big_cache_reads * args.batch_size * per_sample / 2**20:.0f} MiB of data)"],
                ["private memory (RssAnon) growth", f"{grow('RssAnon'):+.1f} MiB (opening: "
                                                    f"{opened.get('RssAnon', 0) - before.get('RssAnon', 0):+.1f} MiB)"],
                ["mapped file pages touched (RssFile) growth", f"{grow('RssFile'):+.1f} MiB (page cache: shared, "
                                                               "dropped by the kernel under memory pressure)"],
                ["fingerprint check on open (`open_cache`), from disk / page cache",
                 f"{1e3 * checks['fingerprint_cold_s']:.1f} / {1e3 * checks['fingerprint_warm_s']:.1f} ms"],
                ["full SHA-256 (`g2d cache --verify`), from disk / page cache",
                 f"{checks['sha256_cold_s']:.2f} / {checks['sha256_warm_s']:.2f} s"]]
        note = ("RssFile includes the kernel's read-ahead around each row read (clean file pages, "
                "reclaimable at any time); the process's own memory (RssAnon) does not grow: the cache is "
                "never copied into RAM, so its size is bounded by disk, not memory.")
        lines += ["", f"VGGSound-sized cache: {n} samples × {m} modalities × ({c} logits + {d} features), "
                      "memory-mapped exactly as `open_cache` does, read by random batches; memory from "
                      "`/proc/self/status`:", "", markdown_table(["", "value"], rows), "", note]
    return "\n".join(lines) + "\n", record


def _drop_pages(folder: Path) -> None:
    """Evict the cache files' pages from the page cache (these files only; unmapped pages)."""
    import os

    if not hasattr(os, "posix_fadvise"):
        return
    for path in folder.glob("*.npy"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _read_batches(cache: TeacherCache, n: int, batch: int, reads: int, seed: int) -> float:
    """Seconds per lookup of a random batch of ``batch`` rows."""
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(reads):
        cache.lookup(Batch({}, torch.zeros(batch), torch.randint(0, n, (batch,), generator=gen)))
    return (time.perf_counter() - start) / reads


def input_pipeline_section(args: argparse.Namespace, device: torch.device, work: Path) -> tuple[str, dict[str, Any]]:
    """Epoch time of the train split's loader, decoding every epoch vs reading the preprocessed cache."""
    from g2d.data import build_splits
    from g2d.data.av_digits import make_cremad_digits
    from g2d.data.loader import make_loader, set_loader_seed

    shared = Path(args.shared)
    if not (shared / "fsdd").is_dir() or not (shared / "mnist" / "mnist.npz").exists():
        return f"### Input pipeline\n\nskipped: FSDD/MNIST not found under {shared}\n", {}
    root = make_cremad_digits(shared / "fsdd", shared / "mnist" / "mnist.npz", work / "cremad-digits",
                              takes_train=range(5, 5 + args.input_takes), takes_test=range(0, 1))
    base = {"root": str(root), "classes": [str(d) for d in range(10)], "cache_dir": str(work / "preprocessed")}
    pin = device.type == "cuda"
    configs = [("decode wav/jpg every epoch", False, 0), (f"decode every epoch, {args.workers} persistent workers", False, args.workers),
               ("preprocessed cache", True, 0), (f"preprocessed cache, {args.workers} persistent workers", True, args.workers)]
    results: dict[str, dict[str, float]] = {}
    for label, cached, workers in configs:
        start = time.perf_counter()
        train = build_splits("cremad", {**base, "preprocessed_cache": cached}).train
        built = time.perf_counter() - start
        loader = make_loader(train, 32, shuffle=True, num_workers=workers, pin_memory=pin, persistent_workers=True)
        epochs = []
        for epoch in range(args.input_epochs):
            set_loader_seed(loader, epoch)
            start = time.perf_counter()
            for batch in loader:
                move_batch(batch, device)
            epochs.append(time.perf_counter() - start)
        del loader
        results[label] = {"build_s": built, "first_epoch_s": epochs[0],
                          "epoch_s": statistics.median(epochs[1:] or epochs), "samples": len(train)}
    slow = results[configs[0][0]]["epoch_s"]
    rows = [[label, f"{r['build_s']:.1f}", f"{r['first_epoch_s']:.2f}", f"{r['epoch_s']:.3f}", f"{slow / r['epoch_s']:.1f}×"]
            for label, r in results.items()]
    n = next(iter(results.values()))["samples"]
    text = (f"### Input pipeline (CREMA-D format: wav + 3 JPEG frames per clip, {n} training clips)\n\n"
            f"Loader of the train split, batch 32, pinned memory {'on' if pin else 'off (CPU)'}; "
            f"epoch time = median of epochs 2..{args.input_epochs} (epoch 1 starts the workers); "
            "build = split construction (checks/decodes every file once; with the cache: writes it).\n\n"
            + markdown_table(["pipeline", "build s", "epoch 1 s", "epoch s", "speed-up"], rows) + "\n")
    return text, results

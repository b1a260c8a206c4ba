"""``g2d bench real-digits``: teachers, joint, g2d, g2d-loss and smp on real data, over seeds.

Data sets (from ``../shared/data``, see its README): AV-digits (FSDD speech + MNIST images, written
in AV-MNIST format by :mod:`g2d.data.av_digits`), noisy (white noise at ``--snr`` dB) and clean;
and UCI mfeat with all six views, a 2-view and a 3-view subset. ResNet-18 (small width) encodes
the 2-D inputs, an MLP the mfeat views. Writes ``OUT/real_digits.md`` (mean ± std over seeds of
fused and per-modality test accuracy, the teachers' accuracy, wall time) and ``OUT/<set>/grid.json``.

``g2d bench make-av-digits`` writes the AV-digits folders alone; ``g2d bench data-cache-speed``
times epochs on a CREMA-D-format folder with and without the preprocessed-input cache.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from g2d import io
from g2d.api import MethodSpec
from g2d.bench.grid import markdown_table, mean_std, run_grid
from g2d.commands import COUNT, NON_NEGATIVE, OUT_FOLDER, SEED, SEEDS, add_threads, float_option
from g2d.config import ExperimentConfig, parse_config
from g2d.data.av_digits import make_av_digits
from g2d.validation import G2DError

METHODS = ["joint", "g2d-loss", "smp", "g2d"]
MFEAT_SETS = {"mfeat-6": ["fac", "fou", "kar", "mor", "pix", "zer"], "mfeat-3": ["fac", "fou", "mor"],
              "mfeat-2": ["pix", "mor"]}


def shared_paths(shared: Path) -> dict[str, Path]:
    paths = {"fsdd": shared / "fsdd", "mnist": shared / "mnist" / "mnist.npz", "mfeat": shared / "mfeat"}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise G2DError(f"real data not found: {missing}; pass --shared pointing at the folder holding "
                       f"fsdd/, mnist/ and mfeat/ (see the README's data section)")
    return paths


def ensure_av_digits(paths: dict[str, Path], folder: Path, snr: float | None) -> Path:
    """Build the AV-digits folder unless one with the same recipe is already there."""
    recipe = folder / "av_digits.json"
    if not recipe.exists() or io.read_json(recipe).get("snr_db") != snr:
        make_av_digits(paths["fsdd"], paths["mnist"], folder, snr)
    return folder


def train_block(epochs: int, lr: float) -> dict[str, Any]:
    return {"epochs": epochs, "optim": {"name": "adam", "lr": lr, "weight_decay": 1e-4, "step_size": None}}


def av_config(root: Path, args: argparse.Namespace) -> ExperimentConfig:
    enc = {"name": "resnet18", "options": {"width": args.width}}
    return parse_config({
        "data": {"name": "avmnist", "options": {"root": str(root)}, "batch_size": 64},
        "model": {"encoders": {"image": enc, "audio": enc}, "fusion": {"name": "concat"}},
        "teachers": train_block(args.av_epochs, 2e-3), "student": train_block(args.av_epochs, 2e-3),
        "device": "cpu", "analysis": {"track": False}}, "real-digits AV config")


def mfeat_config(root: Path, views: list[str], args: argparse.Namespace) -> ExperimentConfig:
    return parse_config({
        "data": {"name": "mfeat", "options": {"root": str(root), "views": views}, "batch_size": 64},
        "model": {"encoders": {v: {"name": "mlp", "options": {"hidden": [128], "out_dim": 64}} for v in views},
                  "fusion": {"name": "concat"}},
        "teachers": train_block(args.mfeat_epochs, 1e-3), "student": train_block(args.mfeat_epochs, 1e-3),
        "device": "cpu", "analysis": {"track": False}}, "real-digits mfeat config")


def table(name: str, summaries: list[dict[str, Any]]) -> str:
    """Rows: teachers, then each method; columns: fused, each modality, wall time (s)."""
    modalities = summaries[0]["modalities"]
    header = ["method", "fused"] + modalities + ["wall s"]
    teacher_cells = [mean_std([s["teachers"][m]["test"]["accuracy"] for s in summaries]) for m in modalities]
    rows = [["teachers (unimodal)", "-"] + teacher_cells +
            [f"{statistics.mean(s['teachers_wall_s'] for s in summaries):.0f}"]]
    for method in summaries[0]["methods"]:
        runs = [s["methods"][method] for s in summaries]
        rows.append([method, mean_std([r["test"]["accuracy"] for r in runs])] +
                    [mean_std([r["test"]["modality_accuracy"][m] for r in runs]) for m in modalities] +
                    [f"{statistics.mean(r['wall_s'] for r in runs):.0f}"])
    return f"### {name}\n\n" + markdown_table(header, rows)


def run_real_digits(args: argparse.Namespace) -> str:
    if args.threads:
        torch.set_num_threads(args.threads)
    paths = shared_paths(Path(args.shared))
    out = Path(args.out)
    data_dir = Path(args.data_dir)
    sets: dict[str, ExperimentConfig] = {}
    wanted = set(args.only or ["av-noisy", "av-clean", *MFEAT_SETS])
    if "av-noisy" in wanted:
        noisy = ensure_av_digits(paths, data_dir / f"snr{args.snr:g}", args.snr)
        sets[f"av-noisy (SNR {args.snr:g} dB)"] = av_config(noisy, args)
    if "av-clean" in wanted:
        sets["av-clean"] = av_config(ensure_av_digits(paths, data_dir / "clean", None), args)
    for name, views in MFEAT_SETS.items():
        if name in wanted:
            sets[f"{name} ({'+'.join(views)})"] = mfeat_config(paths["mfeat"], views, args)
    methods = [MethodSpec.parse(m) for m in METHODS]
    sections = []
    for name, config in sets.items():
        start = time.perf_counter()
        summaries = run_grid(config, methods, args.seeds, out / name.split(" ")[0], progress=False)
        sections.append(table(name, summaries))
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    text = (f"Test accuracy (%), mean ± std over seeds {args.seeds}; ResNet-18 width {args.width} for AV-digits "
            f"({args.av_epochs} epochs), MLP for mfeat ({args.mfeat_epochs} epochs); Adam; wall time per "
            f"student (teachers: all of them), {args.threads} CPU thread(s).\n\n" + "\n\n".join(sections) + "\n")
    io.write_text(out / "real_digits.md", text)
    return text


def cmd_real_digits(args: argparse.Namespace) -> int:
    print(run_real_digits(args))
    print(f"written {Path(args.out) / 'real_digits.md'}")
    return 0


def cmd_make_av_digits(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    paths = shared_paths(Path(args.shared))
    for folder, snr in ((Path(args.out) / f"snr{args.snr:g}", args.snr), (Path(args.out) / "clean", None)):
        recipe = make_av_digits(paths["fsdd"], paths["mnist"], folder, snr, seed=args.seed)
        print(f"{folder}: {recipe['train_size']} train / {recipe['test_size']} test clips, SNR {snr}, "
              f"PCA {recipe['pca_components']} components ({recipe['pca_energy_kept']:.1%} of the energy)")
    return 0


def time_epochs(args: argparse.Namespace, root: Path, cached: bool) -> dict[str, float]:
    """Load time, data-only epoch times and joint-training epoch times for one cache setting."""
    import shutil

    from g2d import api
    from g2d.data import build_splits
    from g2d.data.loader import make_loader

    cache = Path(args.out) / "preprocessed"
    shutil.rmtree(cache, ignore_errors=True)
    options = {"root": str(root), "classes": [str(d) for d in range(10)], "preprocessed_cache": cached,
               "cache_dir": str(cache)}
    start = time.perf_counter()
    splits = build_splits("cremad", options)
    result = {"load_s": time.perf_counter() - start}
    for epoch in range(2):
        start = time.perf_counter()
        for _ in make_loader(splits.train, 32, shuffle=True, seed=epoch, num_workers=args.workers):
            pass
        result[f"data_epoch{epoch + 1}_s"] = time.perf_counter() - start
    enc = {"name": "resnet18", "options": {"width": 0.0625}}
    config = parse_config({"data": {"name": "cremad", "options": options, "num_workers": args.workers},
                           "model": {"encoders": {"audio": enc, "video": enc}}, "method": {"name": "joint"},
                           "student": train_block(2, 1e-3), "device": "cpu", "analysis": {"track": False}})
    run = api.train_student(config, Path(args.out) / f"run-cache-{cached}", splits, progress=False, overwrite=True)
    for row in run.result.history:
        result[f"train_epoch{row['epoch'] + 1}_s"] = row["train_time_s"]
    return {k: round(v, 2) for k, v in result.items()}


def cmd_data_cache_speed(args: argparse.Namespace) -> int:
    from g2d.data.av_digits import make_cremad_digits

    if args.threads:

        torch.set_num_threads(args.threads)
    paths = shared_paths(Path(args.shared))
    root = Path(args.out) / "cremad-digits"
    if not (root / "test.csv").exists():
        make_cremad_digits(paths["fsdd"], paths["mnist"], root, takes_train=range(5, 15))
    rows = {cached: time_epochs(args, root, cached) for cached in (False, True)}
    header = ["preprocessed cache"] + list(rows[True])
    lines = [[("on" if c else "off")] + [f"{v:.2f}" for v in r.values()] for c, r in rows.items()]
    ratio = {k: rows[False][k] / rows[True][k] for k in rows[True] if "epoch2" in k}
    text = (markdown_table(header, lines) + "\n\nepoch-2 time, off / on: "
            + ", ".join(f"{k.split('_')[0]} {v:.1f}x" for k, v in ratio.items()) + "\n")
    io.write_text(Path(args.out) / "data_cache_speed.md", text)
    print(text)
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=OUT_FOLDER, default="runs/bench/real-digits", help="output folder (default runs/bench/real-digits)")
    p.add_argument("--shared", default="../shared/data", help="folder with fsdd/, mnist/, mfeat/")
    p.add_argument("--data-dir", default="runs/data/av-digits", help="where the AV-digits folders are written")
    p.add_argument("--seeds", type=SEEDS, default=[0, 1, 2], help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--snr", type=float_option(None), default=-5.0, help="audio SNR (dB) of the noisy AV-digits variant")
    p.add_argument("--width", type=float_option(0.0, low_open=True), default=0.125, help="ResNet-18 width multiplier")
    p.add_argument("--av-epochs", type=COUNT, default=4, help="epochs on AV-digits (teachers and students)")
    p.add_argument("--mfeat-epochs", type=COUNT, default=30, help="epochs on mfeat (teachers and students)")
    add_threads(p)
    p.add_argument("--only", nargs="+", choices=["av-noisy", "av-clean", *MFEAT_SETS], default=None,
                   help="run only these data sets (default: all)")
    p.set_defaults(handler=cmd_real_digits)


def add_make_av_digits_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=OUT_FOLDER, default="runs/data/av-digits", help="output folder (snr<dB>/ and clean/ inside)")
    p.add_argument("--shared", default="../shared/data", help="folder with fsdd/ and mnist/")
    p.add_argument("--snr", type=float_option(None), default=-5.0, help="audio SNR (dB) of the noisy variant")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the noise and of the images paired with the clips")
    add_threads(p)
    p.set_defaults(handler=cmd_make_av_digits)


def add_data_cache_speed_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=OUT_FOLDER, default="runs/bench/data-cache-speed", help="output folder (default runs/bench/data-cache-speed)")
    p.add_argument("--shared", default="../shared/data", help="folder with fsdd/ and mnist/")
    p.add_argument("--workers", type=NON_NEGATIVE, default=0, help="DataLoader worker processes")
    add_threads(p)
    p.set_defaults(handler=cmd_data_cache_speed)

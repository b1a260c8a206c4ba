"""Which diagnosis signal names the modality joint training neglects? (issue 27, item 3)

For every case (constructed fast-strong/slow-weak sets, a digits-like split, the real suite of
``g2d bench evidence``) and seed: train the teachers, then one full joint student with an epoch
callback that records, per modality, what every candidate signal would read after ``k`` epochs
of a joint probe (the probe *is* the first ``k`` epochs of that run: same seed, constant lr).
Ground truth: the modality the finished joint student (validation-selected epoch) leaves furthest
below its teacher, in test accuracy points. Writes ``OUT/study.json`` and prints the table.

    PYTHONPATH=src python scripts/diagnosis_study.py --out runs/diagnosis-study --cases synth-fast-strong digits8
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from g2d import api, io
from g2d.config import ExperimentConfig, parse_config, replace
from g2d.data.memory import save_arrays

# ---- cases -----------------------------------------------------------------------------------------


def mlp_config(data: dict[str, Any], modalities: list[str], epochs: int, optim: dict[str, Any],
               batch_size: int, hidden: int = 64, fusion: str = "concat") -> dict[str, Any]:
    train = {"epochs": epochs, "optim": optim}
    return {"data": data | {"batch_size": batch_size},
            "model": {"encoders": {m: {"name": "mlp", "options": {"hidden": [hidden], "out_dim": 32}}
                                   for m in modalities}, "fusion": {"name": fusion}},
            "teachers": dict(train), "student": dict(train), "device": "cpu", "analysis": {"track": False}}


SGD_DEFAULT = {"name": "sgd", "lr": 1e-3, "step_size": None}  # the config defaults a new user gets
ADAM = {"name": "adam", "lr": 1e-3, "step_size": None}


def synthetic_case(options: dict[str, Any], optim: dict[str, Any], epochs: int = 20,
                   batch_size: int = 32) -> dict[str, Any]:
    data = {"name": "synthetic", "options": {"num_train": 1500, "num_val": 500, "num_test": 1000} | options}
    return mlp_config(data, ["strong", "weak"], epochs, optim, batch_size)


def digits8(shared: Path, folder: Path, noise: float = 0.5, scale: float = 1.0, n: int = 1800) -> Path:
    """sklearn's digits recipe rebuilt from MNIST: pad to 32×32, count ink in 4×4 blocks -> 8×8 in
    0..16 (times ``scale``); modality ``top`` = pixel rows 0–4, ``bottom`` = rows 5–7 plus Gaussian
    noise (logistic regression: 81 % vs 52 %)."""
    path = folder / f"digits8-noise{noise:g}-scale{scale:g}.npz"
    if path.exists():
        return path
    mnist = np.load(shared / "mnist" / "mnist.npz")
    rng = np.random.default_rng(0)
    pick = rng.choice(len(mnist["y_train"]), n, replace=False)
    images = np.pad(mnist["x_train"][pick] > 127, ((0, 0), (2, 2), (2, 2))).astype(np.float32)
    blocks = images.reshape(n, 8, 4, 8, 4).sum((2, 4))  # 0..16 like optdigits
    flat = blocks.reshape(n, 64)
    bottom = flat[:, 40:] + noise * rng.standard_normal((n, 24)).astype(np.float32)
    save_arrays(path, {"top": scale * flat[:, :40], "bottom": scale * bottom}, mnist["y_train"][pick])
    return path


def sklearn_digits(csv_gz: Path, folder: Path, noise: float = 6.0, scale: float = 1.0) -> Path:
    """The issue's case from sklearn's own ``digits.csv.gz`` (logistic regression 92 % vs 52 %)."""
    import gzip

    path = folder / f"skdigits-noise{noise:g}-scale{scale:g}.npz"
    if not path.exists():
        d = np.loadtxt(gzip.open(csv_gz), delimiter=",").astype(np.float32)
        rng = np.random.default_rng(0)
        bottom = d[:, 40:64] + noise * rng.standard_normal((len(d), 24)).astype(np.float32)
        save_arrays(path, {"top": scale * d[:, :40], "bottom": scale * bottom}, d[:, 64].astype(np.int64))
    return path


def arrays_case(path: Path, optim: dict[str, Any], epochs: int = 20, batch_size: int = 16) -> dict[str, Any]:
    data = {"name": "arrays", "options": {"path": str(path), "modalities": ["top", "bottom"]}}
    return mlp_config(data, ["top", "bottom"], epochs, optim, batch_size)


# strong: linear, loud, present on 95 % of the samples (teacher ~ 95 %); weak: sign-flipped (needs the
# encoder's non-linearity, slow) and wrong on 40 % of the samples (teacher ~ 55 %)
FAST_STRONG = {"strong_missing": 0.05, "strong_snr": 4.0, "strong_dim": 32, "weak_noise": 0.4, "weak_snr": 3.0}


def build_cases(args: argparse.Namespace) -> dict[str, ExperimentConfig]:
    folder = Path(args.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    shared = Path(args.shared)
    raw: dict[str, dict[str, Any]] = {
        "synth-fast-strong-sgd": synthetic_case(FAST_STRONG, SGD_DEFAULT | {"lr": 0.01}),
        "synth-fast-strong-adam": synthetic_case(FAST_STRONG, ADAM),
        "synth-demo": synthetic_case({}, SGD_DEFAULT | {"lr": 0.01}),
        "synth-slow-sgd": synthetic_case(FAST_STRONG | {"weak_noise": 0.5}, SGD_DEFAULT, batch_size=16),
        "synth-slow-sgd3": synthetic_case(FAST_STRONG | {"weak_noise": 0.5}, SGD_DEFAULT | {"lr": 3e-3}, batch_size=16),
        "synth-slow-sgd-wide": synthetic_case(FAST_STRONG | {"weak_noise": 0.5, "strong_dim": 128}, SGD_DEFAULT,
                                              batch_size=16),
    }
    wanted = set(args.cases)
    if "synth-test-case" in wanted:  # tests/analysis/test_diagnose.py's FAST_STRONG_SLOW_WEAK, larger test split
        case = synthetic_case(FAST_STRONG | {"weak_noise": 0.1, "num_val": 500}, SGD_DEFAULT, 20, 32)
        case["teachers"]["epochs"] = 40
        for enc in case["model"]["encoders"].values():
            enc["options"]["out_dim"] = 16
        raw["synth-test-case"] = case
    for name in wanted:
        if name.startswith("synth:"):  # synth:lr=0.003,weak_noise=0.3,epochs=30 (FAST_STRONG + changes)
            spec = dict(kv.split("=") for kv in name[len("synth:"):].split(","))
            lr, epochs = float(spec.pop("lr", 1e-3)), int(spec.pop("epochs", 20))
            batch = int(spec.pop("batch", 16))
            raw[name] = synthetic_case(FAST_STRONG | {k: float(v) for k, v in spec.items()},
                                       SGD_DEFAULT | {"lr": lr}, epochs, batch)
    if "digits8" in wanted:
        raw["digits8"] = arrays_case(digits8(shared, folder), SGD_DEFAULT)
    if "digits8-scaled" in wanted:  # pixels / 16, as the usual digits tutorials scale them
        raw["digits8-scaled"] = arrays_case(digits8(shared, folder, scale=1 / 16), SGD_DEFAULT)
    if "digits8-adam" in wanted:
        raw["digits8-adam"] = arrays_case(digits8(shared, folder), ADAM, batch_size=32)
    if args.sklearn_digits and "skdigits" in wanted:
        raw["skdigits"] = arrays_case(sklearn_digits(Path(args.sklearn_digits), folder), SGD_DEFAULT)
    if args.sklearn_digits and "skdigits-scaled" in wanted:
        raw["skdigits-scaled"] = arrays_case(sklearn_digits(Path(args.sklearn_digits), folder, scale=1 / 16),
                                             SGD_DEFAULT)
    configs = {name: parse_config(c, name) for name, c in raw.items() if name in wanted}
    suite = [s for s in args.cases if s in SUITE]
    if suite:
        from g2d.bench.evidence import build_configs

        ns = argparse.Namespace(shared=str(shared), data_dir=str(folder / "evidence"), only=suite,
                                teacher_epochs=args.av_epochs, av_epochs=args.av_epochs,
                                mfeat_epochs=args.mfeat_epochs, width=0.0625, fusion="late", decay_at=0.0)
        configs |= build_configs(ns)
    return configs


SUITE = ["av-5db", "av-10db", "cremad-digits", "mfeat-pix-mor", "mfeat-fac-fou-mor"]

# ---- measuring ---------------------------------------------------------------------------------------


class Recorder:
    """Epoch callback: per modality, the student path's and the teacher's true-label confidence and
    accuracy on the training split (teacher outputs from the cache)."""

    def __init__(self, source: Any, train: Any, modalities: tuple[str, ...], device: torch.device) -> None:
        self.source, self.train, self.modalities, self.device = source, train, modalities, device
        self.rows: list[dict[str, Any]] = []

    @torch.no_grad()
    def on_epoch_end(self, trainer: Any, epoch: int, row: dict[str, Any]) -> None:
        from g2d.data.loader import make_loader
        from g2d.runtime import move_batch
        from g2d.scoring import true_label_confidence

        model = trainer.model
        model.eval()
        sums = {m: np.zeros(4) for m in self.modalities}
        n = 0
        for batch in make_loader(self.train, 256, shuffle=False):
            batch = move_batch(batch, self.device)
            out = model(batch.inputs, masks=batch.masks)
            teacher = self.source.lookup(batch)
            for m in self.modalities:
                zs, zt = out.modality_logits[m], teacher.logits[m]
                sums[m] += [float(true_label_confidence(zs, batch.target, "classification").sum()),
                            float(true_label_confidence(zt, batch.target, "classification").sum()),
                            float((zs.argmax(-1) == batch.target).sum()), float((zt.argmax(-1) == batch.target).sum())]
            n += len(batch)
        model.train()
        self.rows.append({"epoch": epoch, "val_fused": row["val"]["accuracy"],
                          "val": dict(row["val"]["modality_accuracy"]),
                          "train": {m: dict(zip(["s_rho", "t_rho", "s_acc", "t_acc"], (sums[m] / n).tolist()))
                                    for m in self.modalities}})


def teacher_curve(run_dir: Path, modality: str) -> list[float]:
    rows = (run_dir / "teachers" / modality / "metrics.jsonl").read_text().splitlines()
    return [json.loads(r)["val"]["accuracy"] for r in rows]


def measure(config: ExperimentConfig, run_dir: Path) -> dict[str, Any]:
    """Teachers, then the joint student with the recorder; everything the signals need."""
    done = run_dir / "measured.json"
    if done.exists():
        return io.read_json(done)
    splits = api.load_data(config)
    device = torch.device("cpu")
    teachers = api.teachers_for(config, run_dir, splits, progress=False)
    source = api.teacher_source(config, splits, teachers, run_dir / "cache", device, [])
    recorder = Recorder(source, splits.train, splits.info.modalities, device)
    joint = replace(config, {"method": {"name": "joint", "options": {}, "modulators": []}}, "joint")
    start = time.perf_counter()
    student = api.train_student(joint, run_dir, splits, progress=False, callbacks=[recorder])
    result = {"modalities": list(splits.info.modalities), "num_classes": splits.info.num_classes,
              "student_epochs": config.student.epochs,
              "teachers": {m: {"val": t.card["val"]["accuracy"], "test": t.card["test"]["accuracy"],
                               "curve": teacher_curve(run_dir, m)} for m, t in teachers.items()},
              "joint": {"selected_epoch": student.result.best_epoch, "test": student.result.test["accuracy"],
                        "test_modality": student.result.test["modality_accuracy"],
                        "val_modality": student.result.val["modality_accuracy"]},
              "epochs": recorder.rows, "joint_wall_s": time.perf_counter() - start}
    io.write_json(done, result)
    return result


# ---- the candidate signals: a "neglect score" per modality (highest = neglected) -----------------------


def at(curve: list[float], k: int) -> float:
    """Teacher val accuracy after k epochs (its last epoch when it stopped early)."""
    return curve[min(k, len(curve)) - 1]


def signals(r: dict[str, Any], k: int) -> dict[str, dict[str, float]]:
    e = r["epochs"][k - 1]
    chance = 1 / r["num_classes"]
    out: dict[str, dict[str, float]] = {}
    for m in r["modalities"]:
        t, tr, sv = r["teachers"][m], e["train"][m], e["val"][m]
        tk = at(t["curve"], k)
        out[m] = {
            "confidence_ratio (old)": -tr["s_rho"] / max(tr["t_rho"], 1e-12),
            "confidence_gap": tr["t_rho"] - tr["s_rho"],
            "val_gap": t["val"] - sv,
            "val_ratio": -sv / t["val"],
            "val_skill_share (new)": -(sv - chance) / max(t["val"] - chance, 1e-12),
            "val_gap_same_epoch": tk - sv,
            "val_ratio_same_epoch": -sv / max(tk, 1e-12),
            "train_acc_gap": tr["t_acc"] - tr["s_acc"],
            "train_acc_ratio": -tr["s_acc"] / max(tr["t_acc"], 1e-12),
        }
    return out


def plateau_epoch(r: dict[str, Any], patience: int, selected: bool = False) -> int:
    """1-based epoch at which a joint probe with early stopping (patience on fused val) stops, or
    (``selected``) the epoch it then selects (best fused val)."""
    best, best_epoch = -1.0, 0
    for i, e in enumerate(r["epochs"]):
        if e["val_fused"] > best:
            best, best_epoch = e["val_fused"], i
        if i - best_epoch >= patience:
            return (best_epoch if selected else i) + 1
    return (best_epoch if selected else len(r["epochs"]) - 1) + 1


def named(score: dict[str, dict[str, float]], signal: str) -> str:
    return max(score, key=lambda m: score[m][signal])


def truth(r: dict[str, Any]) -> str:
    gaps = {m: r["teachers"][m]["test"] - r["joint"]["test_modality"][m] for m in r["modalities"]}
    return max(gaps, key=gaps.get)


def evaluate(results: dict[str, list[dict[str, Any]]], probes: list[str]) -> list[dict[str, Any]]:
    rows = []
    for case, runs in results.items():
        for seed, r in enumerate(runs):
            if r is None:
                continue
            epochs = len(r["epochs"])
            default = max(1, round(r["student_epochs"] / 5))
            patience = max(3, round(r["student_epochs"] / 10))  # g2d diagnose's default
            ks = {"k1": 1, "k2": 2, "default": default, "2x": min(epochs, 2 * default),
                  "new": plateau_epoch(r, patience, selected=True), "new-stop": plateau_epoch(r, patience),
                  "plateau": plateau_epoch(r, 3), "plateau-best": plateau_epoch(r, 3, selected=True),
                  "plateau5-best": plateau_epoch(r, 5, selected=True)}
            row = {"case": case, "seed": r["seed"], "truth": truth(r),
                   "gaps": {m: round(100 * (r["teachers"][m]["test"] - r["joint"]["test_modality"][m]), 1)
                            for m in r["modalities"]},
                   "teacher_test": {m: round(100 * r["teachers"][m]["test"], 1) for m in r["modalities"]},
                   "k": {p: ks[p] for p in probes}, "named": {}, "scores": {},
                   "teacher_rho": {m: r["epochs"][0]["train"][m]["t_rho"] for m in r["modalities"]},
                   "teacher_val": {m: r["teachers"][m]["val"] for m in r["modalities"]}}
            for p in probes:
                sc = signals(r, ks[p])
                row["named"][p] = {s: named(sc, s) for s in next(iter(sc.values()))}
                row["scores"][p] = sc
            rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]], probes: list[str]) -> None:
    sigs = list(rows[0]["named"][probes[0]])
    for p in probes:
        print(f"\n== probe {p} ==")
        print(f"{'signal':<26}" + "".join(f"{r['case'][:14] + '/' + str(r['seed']):>18}" for r in rows) + "  right")
        print(f"{'truth (gap test pts)':<26}" + "".join(
            f"{r['truth'][:8] + ' ' + str(max(r['gaps'].values())):>18}" for r in rows))
        for s in sigs:
            right = sum(r["named"][p][s] == r["truth"] for r in rows)
            print(f"{s:<26}" + "".join(
                f"{r['named'][p][s][:8] + ('' if r['named'][p][s] == r['truth'] else ' X'):>18}" for r in rows)
                + f"  {right}/{len(rows)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/diagnosis-study")
    p.add_argument("--shared", default="../shared/data")
    p.add_argument("--data-dir", default=None, help="built data sets (default OUT/data)")
    p.add_argument("--cases", nargs="+", default=["synth-fast-strong-sgd", "synth-fast-strong-adam", "synth-demo",
                                                  "digits8"] + SUITE)
    p.add_argument("--seeds", default="0")
    p.add_argument("--av-epochs", type=int, default=20, help="AV teachers (early stop) and students")
    p.add_argument("--mfeat-epochs", type=int, default=40)
    p.add_argument("--sklearn-digits", default=None, help="path to sklearn's digits.csv.gz (case 'skdigits')")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    args.data_dir = args.data_dir or str(out / "data")
    seeds = [int(s) for s in args.seeds.split(",")]
    configs = build_cases(args)
    results: dict[str, list[dict[str, Any]]] = {}
    for name, config in configs.items():
        results[name] = []
        for seed in seeds:
            run_dir = out / name / f"seed-{seed}"
            if args.report_only and not (run_dir / "measured.json").exists():
                continue
            start = time.perf_counter()
            r = measure(replace(config, {"seed": seed}, name), run_dir) | {"seed": seed}
            print(f"[{name} seed {seed}] {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
            results[name].append(r)
    probes = ["k1", "k2", "default", "2x", "plateau", "plateau-best", "plateau5-best", "new"]
    rows = evaluate(results, probes)
    io.write_json(out / "study.json", rows)
    if rows:
        print_table(rows, probes)
        io.write_text(out / "diagnosis.md", markdown(rows, probes))
        print(f"\nwritten {out / 'diagnosis.md'}")
    return 0


def fmt_gaps(values: dict[str, float]) -> str:
    return ", ".join(f"{m} {v:.1f}" for m, v in values.items())


def markdown(rows: list[dict[str, Any]], probes: list[str]) -> str:
    """Per case and seed: ground truth, the old rule, the new rule; then every signal's score."""
    def rule(row: dict[str, Any], probe: str, signal: str) -> str:
        name = row["named"][probe][signal]
        return name if name == row["truth"] else f"**{name}** (wrong)"

    lines = ["| case | seed | teacher test acc. | joint: path below its teacher (test pts) | ground truth | margin |"
             " old rule (ratio ρ_s/ρ_t, E/5-epoch probe) | new rule (share of teacher's val skill, early-stopped probe:"
             " read at epoch) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        gaps = sorted(r["gaps"].values(), reverse=True)
        old = rule(r, "default", "confidence_ratio (old)")
        new = rule(r, "new", "val_skill_share (new)")
        lines.append(f"| {r['case']} | {r['seed']} | {fmt_gaps(r['teacher_test'])} | {fmt_gaps(r['gaps'])} | "
                     f"{r['truth']} | {gaps[0] - gaps[1]:.1f} | {old} (after {r['k']['default']}) | "
                     f"{new} ({r['k']['new']}) |")
    lines += ["", "What `g2d diagnose` says with the new rule (the README's diagnosis table; first seed of each case):",
              "", "| data set | neglected by joint | path's share of its teacher's skill (probe, val) | least confident "
              "teacher | teacher ρ (train) | teacher val acc. | paper ranking agrees |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["seed"] != min(x["seed"] for x in rows if x["case"] == r["case"]):
            continue
        share = {m: -v["val_skill_share (new)"] for m, v in r["scores"]["new"].items()}
        least = min(r["teacher_rho"], key=r["teacher_rho"].get)
        neglected = r["named"]["new"]["val_skill_share (new)"]
        lines.append(f"| {r['case']} | {neglected} | {', '.join(f'{m} {v:.0%}' for m, v in share.items())} | "
                     f"{least} | {', '.join(f'{m} {v:.2f}' for m, v in r['teacher_rho'].items())} | "
                     f"{', '.join(f'{m} {100 * v:.1f}' for m, v in r['teacher_val'].items())} | "
                     f"{'yes' if least == neglected else '**no**'} |")
    sigs = list(rows[0]["named"][probes[0]])
    lines += ["", "Right answers per signal (rows) and probe (columns), all cases and seeds above:", "",
              "| signal | " + " | ".join(probes) + " |", "|---|" + "---|" * len(probes)]
    for sig in sigs:
        lines.append(f"| {sig} | " + " | ".join(
            f"{sum(r['named'][p][sig] == r['truth'] for r in rows)}/{len(rows)}" for p in probes) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

"""``g2d bench evidence``: does G2D beat joint training on real data? Paired, multi-seed evidence.

Five real data sets built from ``../shared/data`` (see its README), chosen so that the paper's
premise (the least confident teacher is the modality joint training neglects) holds on some and
fails on others:

* ``av-5db``  — AV-digits, audio at −5 dB: the *image* teacher is the less confident one, but joint
  training neglects the *audio* (premise fails);
* ``av-10db`` — AV-digits, audio at −10 dB: the audio teacher is now the less *accurate* one, yet
  on the training batches it is still the more confident (ρ 0.77 vs 0.50), so the paper's ranking
  still prioritises the image (premise fails);
* ``cremad-digits`` — FSDD speech + MNIST frames in CREMA-D layout (premise holds);
* ``mfeat-pix-mor`` and ``mfeat-fac-fou-mor`` — UCI mfeat views (two and three modalities).

Columns: joint, the G2D loss alone, the paper's G2D (teacher ranking, fixed τ, fused-output
distillation), the project's SMP with the paper's loss (``g2d-fused``), today's default ``g2d``
(per-modality distillation), and UMT (the strongest baseline of our AV-digits Table 1 that needs no
extra backward pass). Every cell is the test metric at the validation-selected epoch; for each
method the paired difference to joint over seeds (same seed = same teachers, same cache) with a
95 % Student-t interval; per-modality accuracy of the student's own path z_s^m next to its teacher,
and the SMP schedule each run took. Budgets in the paper's shape: teachers and students have their
own epochs, teachers stop early on validation, late fusion (the paper's choice; ``--fusion concat``
for the other), Adam at a constant rate (``--decay-at 0.5``: ×0.1 at the end of the paper's SMP
phase, which in a short budget kept the audio encoder the paper's ranking froze from ever
recovering).

The 2025 methods (in ``--methods`` by default): Data Remixing, DGL, InfoReg, ARL and AUG train
in every cell on the same teachers and cache as the columns above (a cell's teachers are trained
once; methods added later load them). The best two of them are chosen on the suite's
*validation* results (:func:`select_contenders`) and shown with ``g2d+remix`` beside joint and
G2D: each with its paired difference to joint and to G2D and the 95 % intervals. Every student
uses the suite's fusion (AUG's added learners get classifiers of their own on a fusion without a
shared head).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from g2d import io
from g2d.api import MethodSpec, run_methods
from g2d.bench.grid import markdown_table, publish
from g2d.bench.real_digits import ensure_av_digits, shared_paths
from g2d.commands import COUNT, NON_NEGATIVE, OUT_FOLDER, SEEDS, add_executor, executor_options, float_option
from g2d.config import ExperimentConfig, parse_config
from g2d.data import build_splits
from g2d.executors import Cell

# Student-t 97.5 % quantiles by degrees of freedom (two-sided 95 % intervals); normal beyond 30.
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}

SETS = ["av-5db", "av-10db", "cremad-digits", "mfeat-pix-mor", "mfeat-fac-fou-mor"]


def base_methods() -> list[MethodSpec]:
    """The suite's columns: baselines, the paper's G2D, the project's SMP with the paper's fused-output
    distillation (``g2d-fused``, the default until the per-modality term won here) and today's ``g2d``."""
    paper_loss = {"beta": 1.0, "gamma": 0.0}
    return [MethodSpec("joint", "joint"), MethodSpec("g2d-loss", "g2d-loss"),
            MethodSpec("g2d-paper", "g2d", {"ranking": "teacher", "schedule": "fixed"} | paper_loss),
            MethodSpec("g2d-fused", "g2d", paper_loss),
            MethodSpec("g2d", "g2d", {}),
            MethodSpec("umt", "umt")]


#: The 2025 methods the best two are chosen from, on validation (:func:`select_contenders`).
CANDIDATES = ["remix", "dgl", "inforeg", "arl", "aug"]
#: Always shown beside the chosen two: G2D with Data Remixing composed onto it.
COMPOSED = "g2d+remix"


def contender_methods() -> list[MethodSpec]:
    """The 2025 methods with their papers' defaults, and ``g2d+remix``."""
    return [MethodSpec(name, name) for name in CANDIDATES] + [MethodSpec.parse(COMPOSED)]


def methods() -> list[MethodSpec]:
    """Every column the suite can train: the base columns, then the contenders."""
    return base_methods() + contender_methods()


@dataclass(frozen=True)
class Budget:
    teacher_epochs: int
    student_epochs: int
    lr: float
    patience: int
    decay_at: float


def train_block(epochs: int, lr: float, patience: int | None = None, decay_at: float = 0.5) -> dict[str, Any]:
    """Adam with one ×0.1 decay at ``decay_at`` of the epochs (0.5: the end of the paper's SMP phase;
    0: constant lr)."""
    step = max(1, round(epochs * decay_at)) if decay_at > 0 else None
    return {"epochs": epochs, "patience": patience,
            "optim": {"name": "adam", "lr": lr, "weight_decay": 1e-4, "step_size": step, "gamma": 0.1}}


def experiment(data: dict[str, Any], encoders: dict[str, Any], fusion: str, budget: Budget,
               name: str) -> ExperimentConfig:
    return parse_config({
        "data": {**data, "batch_size": 64}, "model": {"encoders": encoders, "fusion": {"name": fusion}},
        "teachers": train_block(budget.teacher_epochs, budget.lr, budget.patience, budget.decay_at),
        "student": train_block(budget.student_epochs, budget.lr, None, budget.decay_at), "device": "cpu",
        "analysis": {"track": False}}, f"evidence config {name!r}")


def cnn(width: float) -> dict[str, Any]:
    return {"name": "resnet18", "options": {"width": width}}


def mlp() -> dict[str, Any]:
    return {"name": "mlp", "options": {"hidden": [128], "out_dim": 64}}


def build_configs(args: argparse.Namespace) -> dict[str, ExperimentConfig]:
    """The suite's experiments (only those asked for), data folders built on first use."""
    paths = shared_paths(Path(args.shared))
    data_dir = Path(args.data_dir)
    av = Budget(args.teacher_epochs, args.av_epochs, 2e-3, 5, args.decay_at)
    tab = Budget(args.mfeat_epochs, args.mfeat_epochs, 1e-3, 10, args.decay_at)
    configs: dict[str, ExperimentConfig] = {}
    for name, snr in (("av-5db", -5.0), ("av-10db", -10.0)):
        if name in args.only:
            root = ensure_av_digits(paths, data_dir / f"snr{snr:g}", snr)
            configs[name] = experiment({"name": "avmnist", "options": {"root": str(root)}},
                                       {"image": cnn(args.width), "audio": cnn(args.width)}, args.fusion, av, name)
    if "cremad-digits" in args.only:
        root = ensure_cremad_digits(paths, data_dir / "cremad-digits")
        options = {"root": str(root), "classes": [str(d) for d in range(10)],
                   "audio": {"size": [64, 64]}, "image": {"channels": 1, "size": 32, "num_frames": 1},
                   "cache_dir": str(data_dir / "preprocessed")}
        configs["cremad-digits"] = experiment({"name": "cremad", "options": options},
                                              {"audio": cnn(args.width), "video": cnn(args.width)},
                                              args.fusion, av, "cremad-digits")
        build_splits("cremad", configs["cremad-digits"].data.options)  # decode once, before workers share it
    for name, views in (("mfeat-pix-mor", ["pix", "mor"]), ("mfeat-fac-fou-mor", ["fac", "fou", "mor"])):
        if name in args.only:
            configs[name] = experiment({"name": "mfeat", "options": {"root": str(paths["mfeat"]), "views": views}},
                                       {v: mlp() for v in views}, args.fusion, tab, name)
    return configs


def ensure_cremad_digits(paths: dict[str, Path], folder: Path) -> Path:
    from g2d.data.av_digits import make_cremad_digits

    if not (folder / "test.csv").exists():
        make_cremad_digits(paths["fsdd"], paths["mnist"], folder)
    return folder


# ---- running: one cell = one data set × one seed (teachers once, then every method) ------------
def run_cell(config_json: str, out: str, specs: list[tuple[str, str, dict[str, Any], list[dict[str, Any]]]],
             threads: int) -> dict[str, Any]:
    """Train one seed of one data set; methods already in its summary.json are read back when that
    summary was made from this same cell config (data, model, budgets, seed), and only the missing
    ones are trained (a new column costs only its own students). A summary from another config
    (e.g. other ``--av-epochs``) is retrained whole, never mixed into the new columns."""
    import torch

    torch.set_num_threads(threads)
    summary_path = Path(out) / "summary.json"
    cell_key = hashlib.sha256(json.dumps(json.loads(config_json), sort_keys=True).encode()).hexdigest()[:16]
    done = io.read_json(summary_path) if summary_path.exists() else {}
    if done.get("cell_config") != cell_key:
        done = {"methods": {}, "schedules": {}}
    missing = [MethodSpec(*s) for s in specs if s[0] not in done["methods"]]
    if not missing:
        return done | {"reused": True}
    config = parse_config(json.loads(config_json), "evidence cell")
    summary = run_methods(config, out, missing, progress=False, overwrite=True)  # the cell's teachers and cache are reused
    summary["methods"] = done["methods"] | summary["methods"]
    if done["methods"]:  # the teachers were loaded, not trained: keep the time they took when trained
        summary["teachers_wall_s"] = done.get("teachers_wall_s", summary["teachers_wall_s"])
    summary["schedules"] = done.get("schedules", {}) | {s.label: schedule(Path(out) / "students" / s.label)
                                                        for s in missing}
    summary["cell_config"] = cell_key
    io.write_json(summary_path, summary)
    return summary


def diagnose_cell(config_json: str, out: str, threads: int) -> dict[str, Any]:
    """``g2d diagnose`` on one cell's run folder (its teachers and cache); read back when done with
    today's rule."""
    import torch

    from g2d.api import diagnose

    torch.set_num_threads(threads)
    path = Path(out) / "diagnosis.json"
    found = io.read_json(path) if path.exists() else {}
    if "rule" in found:  # written by today's rule (an older diagnosis.json is made again)
        return found
    return diagnose(parse_config(json.loads(config_json), "evidence diagnosis"), out, progress=False)


def schedule(student_dir: Path) -> dict[str, int]:
    """Epochs in which each modality was prioritised alone (SMP's log in metrics.jsonl)."""
    counts: dict[str, int] = {}
    for line in (student_dir / "metrics.jsonl").read_text().splitlines():
        for m in json.loads(line).get("modulators", {}).get("smp", {}).get("prioritised", []):
            counts[m] = counts.get(m, 0) + 1
    return counts


def train_cell(cell: Cell) -> dict[str, Any]:
    """Worker (:func:`g2d.executors.run_cells`): :func:`run_cell` on one data set × seed."""
    import torch

    p = cell.payload
    return run_cell(json.dumps(p["config"]), p["out"], [tuple(s) for s in p["specs"]], torch.get_num_threads())


def diagnosis_cell(cell: Cell) -> dict[str, Any]:
    """Worker: :func:`diagnose_cell` on one data set's first-seed run folder."""
    import torch

    return diagnose_cell(json.dumps(cell.payload["config"]), cell.payload["out"], torch.get_num_threads())


def run_suite(configs: dict[str, ExperimentConfig],
              args: argparse.Namespace) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Every data set × seed as a cell on the chosen executor (``--executor``/``--workers``), then one
    diagnosis cell per data set; the finished cells by data set, and the failed ones (name -> error),
    which are printed by name and left out of the tables."""
    specs = [(s.label, s.method, s.options, s.modulators) for s in methods() if s.label in args.methods]
    run = executor_options(args)
    out = Path(args.out)
    cells = [Cell(f"{name}.seed-{seed}", {"config": config.model_dump(mode="json") | {"seed": seed},
                                          "out": str(out / name / f"seed-{seed}"), "specs": specs})
             for seed in args.seeds for name, config in configs.items()]  # seed-major: early seeds first
    first = args.seeds[0]  # the diagnosis of each data set, on its first seed's teachers and cache
    with run.session():
        trained = run.run(cells, train_cell, out)
        diagnoses = run.run([Cell(f"{name}.diagnosis", {"config": config.model_dump(mode="json") | {"seed": first},
                                                        "out": str(out / name / f"seed-{first}")})
                             for name, config in configs.items() if f"{name}.seed-{first}" in trained.results],
                            diagnosis_cell, out)
    results = {}
    for name in configs:
        done = [(s, f"{name}.seed-{s}") for s in args.seeds if f"{name}.seed-{s}" in trained.results]
        results[name] = [trained.results[c] | ({"reused": True} if c in trained.reused else {}) for _, c in done]
        if done and done[0][0] == first and f"{name}.diagnosis" in diagnoses.results:
            results[name][0]["diagnosis"] = diagnoses.results[f"{name}.diagnosis"]
    failed = {**trained.failed, **diagnoses.failed}
    for name, error in failed.items():
        print(f"cell {name} failed: {error}", file=sys.stderr)
    return {name: cells for name, cells in results.items() if cells}, failed


# ---- tables -------------------------------------------------------------------------------------
def paired_ci(diffs: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95 % Student-t interval of paired differences."""
    n = len(diffs)
    if n < 2:
        return diffs[0], math.nan
    df = n - 1
    t = T975.get(df) or next((T975[k] for k in sorted(T975) if k >= df), 1.960)
    return statistics.mean(diffs), t * statistics.stdev(diffs) / math.sqrt(n)


def pct(values: list[float]) -> str:
    vals = [100 * v for v in values]
    return f"{statistics.mean(vals):.1f} ± {statistics.stdev(vals):.1f}" if len(vals) > 1 else f"{vals[0]:.1f}"


def test_accuracies(cells: list[dict[str, Any]], labels: list[str]) -> dict[str, list[float]]:
    """Each of ``labels`` trained in every cell -> its test accuracy per cell (seed order)."""
    return {label: [cell["methods"][label]["test"]["accuracy"] for cell in cells]
            for label in labels if all(label in cell["methods"] for cell in cells)}


def fused_table(results: dict[str, list[dict[str, Any]]], labels: list[str]) -> str:
    """One row per data set: mean ± std of each method, and each method's paired Δ vs joint."""
    header = ["data set"] + labels + [f"Δ {label} − joint [95% CI]" for label in labels if label != "joint"]
    rows = []
    for name, cells in results.items():
        acc = test_accuracies(cells, labels)
        rows.append([name] + [pct(acc[label]) for label in labels] +
                    [delta_cell(acc[label], acc["joint"]) for label in labels[1:]])
    return markdown_table(header, rows)


def modality_table(name: str, cells: list[dict[str, Any]], labels: list[str]) -> str:
    """z_s^m accuracy of every method next to the teachers', and the prioritised epochs."""
    modalities = cells[0]["modalities"]
    rows = [["teacher"] + [pct([c["teachers"][m]["test"]["accuracy"] for c in cells]) for m in modalities] + ["-"]]
    for label in labels:
        accs = [pct([c["methods"][label]["test"]["modality_accuracy"][m] for c in cells]) for m in modalities]
        counts = {m: statistics.mean(c.get("schedules", {}).get(label, {}).get(m, 0) for c in cells)
                  for m in modalities}
        prioritised = ", ".join(f"{m} {v:.1f}" for m, v in counts.items() if v) or "none"
        rows.append([label] + accs + [prioritised])
    return f"#### {name}: each modality's own output z_s^m (test %)\n\n" + markdown_table(
        ["model"] + list(modalities) + ["epochs prioritised alone (mean)"], rows)


def diagnosis_table(results: dict[str, list[dict[str, Any]]]) -> str:
    """Per data set: what ``g2d diagnose`` says before any student trains (first seed)."""
    rows = []
    for name, cells in results.items():
        d = cells[0].get("diagnosis")
        if not d:
            continue
        share = ", ".join(f"{m} {v['skill_share']:.0%}" for m, v in d["modalities"].items() if "skill_share" in v)
        rho = ", ".join(f"{m} {v['teacher_rho_train']:.2f}" for m, v in d["modalities"].items())
        val = ", ".join(f"{m} {100 * v['teacher_val']:.1f}" for m, v in d["modalities"].items())
        rows.append([name, d["neglected"], share or "–", d["least_confident_teacher"], rho, val,
                     "yes" if d["paper_ranking_agrees"] else "**no**"])
    return markdown_table(["data set", "neglected by joint", "path's share of its teacher's skill (probe, val)",
                           "least confident teacher",
                           "teacher ρ (train)", "teacher val acc.", "paper ranking agrees"], rows)


def select_contenders(results: dict[str, list[dict[str, Any]]], candidates: list[str],
                      k: int = 2) -> tuple[list[str], dict[str, float]]:
    """The ``k`` best ``candidates`` on the suite's VALIDATION accuracy (test results are never read).

    Rule: on each data set, a candidate's score is its validation accuracy (at its selected epoch)
    averaged over the seeds; the candidates are ranked per data set (1 = best, ties share the mean
    rank); the chosen are the ``k`` with the lowest mean rank over the data sets, ties broken by the
    higher mean validation accuracy, then by name. Ranks, not raw accuracies, so that no single data
    set's scale decides. Only candidates trained in every cell of every data set take part. Returns
    the chosen (best first) and every eligible candidate's mean rank."""
    eligible = [c for c in candidates
                if results and all(c in cell["methods"] for cells in results.values() for cell in cells)]
    if not eligible:
        return [], {}
    ranks: dict[str, list[float]] = {c: [] for c in eligible}
    means: dict[str, list[float]] = {c: [] for c in eligible}
    for cells in results.values():
        val = {c: statistics.mean(cell["methods"][c]["val"]["accuracy"] for cell in cells) for c in eligible}
        for c in eligible:
            better = sum(v > val[c] for v in val.values())
            tied = sum(v == val[c] for v in val.values())  # itself included
            ranks[c].append(better + (tied + 1) / 2)
            means[c].append(val[c])
    mean_rank = {c: statistics.mean(r) for c, r in ranks.items()}
    order = sorted(eligible, key=lambda c: (mean_rank[c], -statistics.mean(means[c]), c))
    return order[:k], mean_rank


def selection_table(results: dict[str, list[dict[str, Any]]], candidates: list[str], chosen: list[str],
                    mean_rank: dict[str, float]) -> str:
    """Validation accuracy of every 2025 candidate per data set (the basis of the choice) and its mean rank."""
    present = [c for c in candidates if c in mean_rank]
    rows = [[name] + [pct([cell["methods"][c]["val"]["accuracy"] for cell in cells]) for c in present]
            for name, cells in results.items()]
    rows.append(["mean rank"] + [f"{mean_rank[c]:.1f}" + (" (chosen)" if c in chosen else "") for c in present])
    return markdown_table(["data set (validation %)"] + present, rows)


def delta_cell(ours: list[float], theirs: list[float]) -> str:
    """Paired mean difference in points with its 95 % interval, e.g. ``+1.2 [-0.3, +2.7]``."""
    mean, half = paired_ci([a - b for a, b in zip(ours, theirs)])
    return f"{100 * mean:+.1f} [{100 * (mean - half):+.1f}, {100 * (mean + half):+.1f}]"


def contender_table(results: dict[str, list[dict[str, Any]]], contenders: list[str]) -> str:
    """Test accuracy of joint, G2D and each contender; each contender's paired Δ to joint and to G2D."""
    shown = ["joint", "g2d"] + contenders
    header = ["data set"] + shown + [f"Δ {c} − {ref} [95% CI]" for c in contenders for ref in ("joint", "g2d")]
    rows = []
    for name, cells in results.items():
        acc = test_accuracies(cells, shown)
        if len(acc) < len(shown):
            continue
        rows.append([name] + [pct(acc[label]) for label in shown] +
                    [delta_cell(acc[c], acc[ref]) for c in contenders for ref in ("joint", "g2d")])
    return markdown_table(header, rows)


def leader_table(results: dict[str, list[dict[str, Any]]], labels: list[str]) -> str:
    """Per data set, the method with the highest mean test accuracy among ``labels`` (a description of
    the results, chosen after the fact, never a selection) and G2D's paired Δ to it: does G2D lead, and
    if not, does its interval exclude zero?"""
    rows = []
    for name, cells in results.items():
        acc = test_accuracies(cells, labels)
        if "g2d" not in acc:
            continue
        best = max(acc, key=lambda label: (statistics.mean(acc[label]), label == "g2d"))
        # the method G2D is compared with: the best, or when G2D is the best, the runner-up
        other = best if best != "g2d" else max((label for label in acc if label != "g2d"),
                                               key=lambda label: statistics.mean(acc[label]))
        shown = other if best == "g2d" else "g2d"
        rows.append([name, best, pct(acc[best]), f"{shown} {pct(acc[shown])}",
                     delta_cell(acc["g2d"], acc[other]), verdict(acc["g2d"], acc[other])])
    return markdown_table(["data set", "highest mean", "its test %", "next (or g2d)",
                           "Δ g2d − other [95% CI]", "g2d vs it"], rows)


def versus_g2d_table(results: dict[str, list[dict[str, Any]]], labels: list[str]) -> str:
    """Every other method's paired Δ to G2D per data set (points, 95 % CI; ``*`` where it excludes zero)."""
    others = [label for label in labels if label != "g2d"]
    rows = []
    for name, cells in results.items():
        acc = test_accuracies(cells, ["g2d", *others])
        if "g2d" not in acc:
            continue
        rows.append([name] + [delta_cell(acc[label], acc["g2d"]) + (" *" if excludes_zero(acc[label], acc["g2d"]) else "")
                              if label in acc else "–" for label in others])
    return markdown_table(["data set"] + [f"{label} − g2d" for label in others], rows)


def excludes_zero(ours: list[float], theirs: list[float]) -> bool:
    """Whether the 95 % interval of the paired differences lies wholly on one side of zero."""
    mean, half = paired_ci([a - b for a, b in zip(ours, theirs)])
    return not math.isnan(half) and abs(mean) > half


def verdict(ours: list[float], theirs: list[float]) -> str:
    """``ahead``/``behind`` when the paired interval excludes zero, else ``tie``."""
    if not excludes_zero(ours, theirs):
        return "tie (interval across zero)"
    return "ahead" if statistics.mean(ours) > statistics.mean(theirs) else "behind"


def contenders_section(results: dict[str, list[dict[str, Any]]]) -> str:
    """The 2025 methods: the validation-based choice of the best two, then them and ``g2d+remix`` on test."""
    chosen, mean_rank = select_contenders(results, CANDIDATES)
    if not chosen:
        return ""
    composed = [COMPOSED] if all(COMPOSED in c["methods"] for cells in results.values() for c in cells) else []
    return ("#### The 2025 methods: the best two on validation (mean rank over the data sets)\n\n" +
            selection_table(results, CANDIDATES, chosen, mean_rank) +
            f"\n\n#### {', '.join(chosen + composed)} against joint and G2D (test %, paired Δ in points)\n\n" +
            contender_table(results, chosen + composed) + "\n")


def cell_seconds(cell: dict[str, Any], labels: list[str]) -> float:
    """Seconds one cell spent training its teachers and the students of ``labels`` (recorded when trained)."""
    return cell.get("teachers_wall_s", 0.0) + sum(cell["methods"][label].get("wall_s", 0.0) for label in labels)


def code_versions_note(results: dict[str, list[dict[str, Any]]]) -> str:
    """A warning when the students in the tables were trained by different g2d source code (cells are
    resumable, so a column added later may come from newer code), or by code too old to say."""
    sources = [m.get("software", {}).get("g2d_source") for cells in results.values() for c in cells
               for m in c["methods"].values()]
    known = sorted({s for s in sources if s})
    unknown = sum(s is None for s in sources)
    if len(known) <= 1 and not unknown:
        return ""
    advice = "Seeded results move with the code; rerun into a fresh `--out` before comparing columns.\n\n"
    if not known:
        return (f"**None of the {len(sources)} students in these tables recorded the code that trained them** "
                f"(trained before g2d recorded it), so they may come from different versions. " + advice)
    return (f"**The students in these tables come from {len(known)} versions of g2d's source code"
            f"{f' ({unknown} of {len(sources)} trained before versions were recorded)' if unknown else ''}**: "
            f"{', '.join(known)}. " + advice)


def report(results: dict[str, list[dict[str, Any]]], args: argparse.Namespace, wall: float,
           failed: dict[str, str] | None = None) -> str:
    every = [s.label for s in methods() if s.label in args.methods]
    labels = [s.label for s in base_methods() if s.label in args.methods]
    total = sum(len(cells) for cells in results.values())
    trained = total - sum(bool(c.get("reused")) for cells in results.values() for c in cells)
    compute = sum(cell_seconds(c, [label for label in every if label in c["methods"]])
                  for cells in results.values() for c in cells)
    seeds = sorted({c["seed"] for cells in results.values() for c in cells})
    head = (f"Test accuracy (%) at the validation-selected epoch, mean ± std over seeds {seeds}; Δ: paired "
            f"difference to joint (same seed, same teachers) with its 95 % Student-t interval. AV sets: "
            f"ResNet-18 width {args.width}, teachers ≤ {args.teacher_epochs} epochs (early stop on val), students "
            f"{args.av_epochs} epochs; mfeat: MLP, {args.mfeat_epochs} epochs; {args.fusion} fusion; Adam, "
            f"{'constant lr' if not args.decay_at else f'lr ×0.1 at {args.decay_at:g} of the epochs'}. Wall time {wall / 60:.0f} min ({args.workers} workers × {args.threads} thread; "
            f"{trained} of {total} cells trained by this invocation, the others read back from {args.out}; "
            f"the cells' own training times sum to {compute / 60:.0f} min of one worker).\n\n")
    head += code_versions_note(results)
    if failed:
        head += (f"**{len(failed)} cell(s) failed and are left out of every table** (a data set's row averages the "
                 f"seeds it has; the error of each is in {args.out}/cells/NAME.error.txt, and a rerun retries "
                 f"it): {', '.join(sorted(failed))}.\n\n")
    body = fused_table(results, labels) + "\n\n#### What `g2d diagnose` says (first seed)\n\n" + \
        diagnosis_table(results) + "\n\n" + "\n\n".join(
            modality_table(name, cells, [label for label in every if all(label in c["methods"] for c in cells)])
            for name, cells in results.items())
    leaders = ("#### The highest mean per data set, every method run (test %; G2D's paired Δ to it)\n\n" +
               leader_table(results, every) + "\n\n#### Every method against G2D (test, paired Δ in points, "
               "95 % CI; * where the interval excludes zero)\n\n" + versus_g2d_table(results, every)
               ) if len(every) > 2 else ""
    return head + "\n\n".join(part.strip() for part in (body, contenders_section(results), leaders) if part) + "\n"


def cmd_evidence(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    configs = build_configs(args)
    results, failed = run_suite(configs, args)
    io.write_json(Path(args.out) / "evidence.json", results)
    publish(report(results, args, time.perf_counter() - start, failed), Path(args.out) / "evidence.md")
    return 1 if failed else 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=OUT_FOLDER, default="runs/bench/evidence", help="output folder (resumable: finished cells are kept)")
    p.add_argument("--shared", default="../shared/data", help="folder with fsdd/, mnist/, mfeat/")
    p.add_argument("--data-dir", default="runs/data", help="where the built data sets are written")
    p.add_argument("--seeds", type=SEEDS, default=[0, 1, 2, 3, 4], help="comma-separated seeds (default 0,1,2,3,4)")
    p.add_argument("--only", nargs="+", choices=SETS, default=SETS, help="data sets to run")
    p.add_argument("--methods", nargs="+", choices=[s.label for s in methods()],
                   default=[s.label for s in methods()],
                   help="columns to run (joint is always needed; g2d too for the contenders' Δ to G2D); the 2025 "
                        f"methods {CANDIDATES} and {COMPOSED} make the contenders section")
    p.add_argument("--width", type=float_option(0.0, low_open=True), default=0.0625, help="ResNet-18 width multiplier (AV sets)")
    p.add_argument("--teacher-epochs", type=COUNT, default=20, help="AV teachers: most epochs (early stop on val)")
    p.add_argument("--av-epochs", type=COUNT, default=20, help="AV students: epochs")
    p.add_argument("--mfeat-epochs", type=COUNT, default=40, help="mfeat teachers (early stop on val) and students")
    p.add_argument("--decay-at", type=float_option(0.0, 1.0), default=0.0, help="lr ×0.1 at this fraction of the epochs "
                   "(0.5: the end of the paper's SMP phase; 0: constant lr)")
    p.add_argument("--fusion", default="late", help="fusion of every student (concat | late | ...)")
    add_executor(p, workers=2)  # --executor, --workers, --ray-address; a cell = one data set × seed
    p.add_argument("--threads", type=NON_NEGATIVE, default=1, help="torch threads per worker")
    p.set_defaults(handler=cmd_evidence)

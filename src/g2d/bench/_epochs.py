"""Epoch-level cost of G2D and of an SMP phase against joint training, for ``g2d bench speed``.

A step-level ratio leaves out what an epoch also pays: the DataLoader handing over batches, the
teacher-cache rows read for every batch, the per-epoch read of the logged figures. An
:class:`EpochCase` is the real training loop (:class:`g2d.trainer.Trainer`) on an in-memory train
split with a teacher cache written to disk in the real format (small enough to be held on the device,
as :class:`g2d.cache.TeacherCache` does for a run of this size); one timed call is one whole
``train_epoch``.
The three cases of a row share the student (same encoders, fusion, seed, batch, data):

- ``joint``: the task loss, every encoder learns;
- ``g2d``: the G2D loss in its joint phase (every encoder learns, teachers read from the cache);
- ``smp``: the same G2D loss inside SMP phase 1 (one encoder learns per step).

:func:`parts_section` times the :data:`PARTS` the same way: G2D's pieces added one at a time.

Rounds run the cases side by side in a rotating order (:func:`g2d.bench._steps.interleaved`), so
load on a shared machine hits all of them; ratios are per round, reported as median [min–max].
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch

from g2d.bench._steps import StepSetup, compile_whole_forward, interleaved, med_spread, ratios, write_teacher_cache
from g2d.bench.grid import markdown_table
from g2d.cache import TeacherCache
from g2d.config import OptimConfig, TrainConfig
from g2d.data.base import DatasetInfo, TensorDataset
from g2d.methods import MethodContext, build_method
from g2d.model import build_model
from g2d.runtime import RuntimeConfig
from g2d.trainer import Trainer

G2D_GOAL, SMP_GOAL = 1.05, 1.0
CASES = ("joint", "g2d", "smp")
# What G2D's extra epoch cost is made of: its pieces added one at a time (the method's own options),
# from reading the teachers (cache lookup and ρ per step) with no loss term, to the whole method.
PARTS = {
    "joint": ("joint", {}),
    "teachers read (lookup, ρ), no G2D term": ("g2d-loss", {"alpha": 0.0, "beta": 0.0, "gamma": 0.0}),
    "+ feature term α·L_feat": ("g2d-loss", {"alpha": 1.0, "beta": 0.0, "gamma": 0.0}),
    "+ per-modality KL γ·L_own": ("g2d-loss", {"alpha": 1.0, "beta": 0.0, "gamma": 1.0}),
    "+ SMP's per-step measurement = G2D": ("g2d", {}),
}


@dataclass(frozen=True)
class EpochRow:
    """One row of the table: what the cases share, and how many samples one epoch has."""

    label: str
    setup: StepSetup

    @property
    def samples(self) -> int:
        return self.setup.pool


def case_spec(name: str, modalities: int) -> tuple[str, dict[str, Any], int]:
    """(method, options, timed epoch) of a case. ``g2d`` is timed past every SMP phase (joint phase).
    ``smp`` is the paper's fixed schedule (phases of one epoch, teacher ranking) timed at epoch 0, SMP
    phase 1: g2d's default adaptive schedule spends its first epoch jointly (its first measurement),
    which would time a joint epoch under the SMP label."""
    if name == "smp":
        return "g2d", {"phases": [1] * (modalities - 1), "ranking": "teacher", "schedule": "fixed"}, 0
    return name, {}, modalities - 1


class EpochCase:
    """One Trainer of a row; :meth:`run` trains one whole epoch (loader, cache reads, steps)."""

    def __init__(self, method: str, options: dict[str, Any], epoch: int, setup: StepSetup,
                 cache: TeacherCache | None) -> None:
        torch.manual_seed(setup.seed)
        m = len(setup.modalities)
        info = DatasetInfo(setup.modalities, "classification", setup.num_classes, setup.shapes)
        model = build_model(info, {k: setup.encoder_for(k) for k in setup.modalities}, {"name": setup.fusion})
        built = build_method(method, options, MethodContext(setup.modalities, "classification", m, model))
        gen = torch.Generator().manual_seed(setup.seed)
        inputs = {k: torch.randn(setup.pool, *s, generator=gen) for k, s in setup.shapes.items()}
        data = TensorDataset(inputs, torch.zeros(setup.pool, dtype=torch.long), info)
        config = TrainConfig(epochs=m, optim=OptimConfig(lr=1e-3, step_size=None))
        runtime = RuntimeConfig(batch_size=setup.batch_size, device=setup.device, precision=setup.precision,
                                seed=setup.seed, channels_last=setup.channels_last, compile=setup.compile == "model")
        self.trainer = Trainer(model, built, data, data, None, config, runtime,
                               teachers=cache if built.needs_teachers else None, progress=False)
        if setup.compile == "step":
            compile_whole_forward(built, self.trainer.model)
        self.epoch = epoch

    def run(self) -> None:
        self.trainer.train_epoch(self.epoch)


def _row_cache(row: EpochRow, cache_dir: Path) -> TeacherCache:
    setup = row.setup
    probe = build_model(DatasetInfo(setup.modalities, "classification", setup.num_classes, setup.shapes),
                        {m: setup.encoder_for(m) for m in setup.modalities}, {"name": setup.fusion})
    return write_teacher_cache(cache_dir, setup, {m: e.out_dim for m, e in probe.encoders.items()})


def make_epoch_cases(row: EpochRow, cache_dir: Path) -> dict[str, EpochCase]:
    cache, m = _row_cache(row, cache_dir), len(row.setup.modalities)
    return {name: EpochCase(*case_spec(name, m), row.setup, cache) for name in CASES}


def make_part_cases(row: EpochRow, cache_dir: Path) -> dict[str, EpochCase]:
    """The :data:`PARTS` of a row, every one timed in the joint phase (epoch M − 1)."""
    cache, m = _row_cache(row, cache_dir), len(row.setup.modalities)
    return {name: EpochCase(method, options, m - 1, row.setup, cache) for name, (method, options) in PARTS.items()}


def time_row(row: EpochRow, work: Path, rounds: int, parts: bool = False,
             clock: Callable[[], float] = time.perf_counter) -> dict[str, Any]:
    """Seconds per epoch of each case (or of each of the :data:`PARTS`) per round, and the
    per-round ratios to joint."""
    cases = make_part_cases(row, work) if parts else make_epoch_cases(row, work)
    times = interleaved({n: c.run for n, c in cases.items()}, row.setup.device, 1, rounds, warmup=1, clock=clock)
    return {"samples": row.samples, "batch": row.setup.batch_size, "times_s": times,
            "ratios": ratios(times, "joint")}


def epoch_rows(mlp_sets: dict[int, dict[str, int]], batches: list[int], resnet: StepSetup,
               resnet_batches: list[int], min_samples: int, min_steps: int) -> list[EpochRow]:
    """The MLP scaling rows (M views × batch sizes) and the ResNet rows (batch sizes)."""
    mlp = {"name": "mlp", "options": {"hidden": [128], "out_dim": 64}}
    rows = []
    for m, dims in mlp_sets.items():
        for b in batches:
            setup = StepSetup({v: (d,) for v, d in dims.items()}, mlp, num_classes=10, batch_size=b,
                              device=resnet.device, precision=resnet.precision,
                              pool=max(min_samples, min_steps * b))
            rows.append(EpochRow(f"MLP, M={m} ({'+'.join(dims)})", setup))
    for b in resnet_batches:
        setup = replace(resnet, batch_size=b, pool=max(min_samples // 8, min_steps * b))
        rows.append(EpochRow("ResNet-18 ×2", setup))
    return rows


def _verdict(values: list[float], goal: float, strict: bool) -> str:
    med = statistics.median(values)
    met = med < goal if strict else med <= goal
    return "met" if met else "not met"


def epoch_section(rows: list[EpochRow], work: Path, rounds: int, clock: Callable[[], float] = time.perf_counter
                  ) -> tuple[str, list[dict[str, Any]]]:
    """The epoch-ratio table (markdown) and its raw record."""
    record, table = [], []
    for k, row in enumerate(rows):
        result = time_row(row, work / f"epoch-{k}", rounds, clock=clock)
        result["label"] = row.label
        record.append(result)
        rel = result["ratios"]
        table.append([row.label, str(row.setup.batch_size), str(row.samples),
                      f"{1000 * statistics.median(result['times_s']['joint']):.1f}",
                      med_spread(rel["g2d"]), f"≤ {G2D_GOAL}: {_verdict(rel['g2d'], G2D_GOAL, False)}",
                      med_spread(rel["smp"]), f"< {SMP_GOAL:g}: {_verdict(rel['smp'], SMP_GOAL, True)}"])
    header = ["student", "batch", "samples / epoch", "joint ms / epoch", "G2D epoch / joint epoch",
              "goal", "SMP-phase epoch / joint epoch", "goal"]
    setup = rows[0].setup
    text = ("### Epoch cost: G2D and SMP vs joint (whole training epochs)\n\n"
            f"One call = one `Trainer.train_epoch`: DataLoader over an in-memory train split, every batch's "
            f"teacher-cache rows (a cache written to disk in the real format, held on the device as a cache of "
            f"this size is), the step, and the epoch's figures read once; SGD, {setup.precision}, "
            f"{setup.device}; median [min–max] over {rounds} side-by-side rounds (rotating order). G2D: joint "
            "phase (every encoder learns); SMP phase: phase 1 (one encoder learns per step).\n\n" + markdown_table(header, table) + "\n")
    return text, record


def parts_section(rows: list[EpochRow], work: Path, rounds: int, clock: Callable[[], float] = time.perf_counter
                  ) -> tuple[str, list[dict[str, Any]]]:
    """Where G2D's extra epoch time goes: the epoch ratio to joint as its pieces are added."""
    record = []
    for k, row in enumerate(rows):
        result = time_row(row, work / f"parts-{k}", rounds, parts=True, clock=clock)
        result["label"] = row.label
        record.append(result)
    header = ["G2D pieces (joint phase)"] + [f"{r['label']}, batch {r['batch']}" for r in record]
    table = [[name] + ["1" if name == "joint" else med_spread(r["ratios"][name]) for r in record] for name in PARTS]
    text = ("### Where a G2D epoch's extra time goes (epoch / joint epoch)\n\n"
            "The same whole epochs, G2D built up one piece at a time from its own options: `g2d-loss` with "
            "α = β = γ = 0, then α = 1, then γ = 1 (β = 0 throughout, as in g2d's defaults), then `g2d` (its "
            "SMP hook measuring ρ_s/ρ_t every step); each row adds one piece to the row above; median [min–max] "
            f"over {rounds} side-by-side rounds.\n\n" + markdown_table(header, table) + "\n")
    return text, record


# The compile section's cases: (case of :func:`case_spec`, compile mode of g2d.bench._steps.COMPILE_MODES).
# Compiled graphs are shared within a process: a case whose graphs an earlier one compiled (same code,
# shapes and grad mode) pays only for what is new, so G2D's cases come first and pay G2D's whole cost.
COMPILED = {
    "joint": ("joint", "none"), "G2D": ("g2d", "none"), "SMP phase": ("smp", "none"),
    "G2D, --compile": ("g2d", "model"), "SMP phase, --compile": ("smp", "model"),
    "joint, --compile": ("joint", "model"),
    "G2D, whole forward compiled": ("g2d", "step"), "joint, whole forward compiled": ("joint", "step"),
}


def time_compiled_row(row: EpochRow, work: Path, rounds: int, clock: Callable[[], float] = time.perf_counter
                      ) -> dict[str, Any]:
    """Each :data:`COMPILED` case of ``row``: its first epoch (wall clock, compilation included), then
    its steady epochs side by side; compile time = first epoch − steady epoch."""
    torch.compiler.reset()  # every row pays its own compilation
    cache, m = _row_cache(row, work), len(row.setup.modalities)
    cases = {label: EpochCase(*case_spec(name, m), replace(row.setup, compile=mode), cache)
             for label, (name, mode) in COMPILED.items()}
    first = {}
    for label, case in cases.items():
        start = time.perf_counter()
        case.run()
        first[label] = time.perf_counter() - start
    times = interleaved({n: c.run for n, c in cases.items()}, row.setup.device, 1, rounds, warmup=0, clock=clock)
    steady = {n: statistics.median(t) for n, t in times.items()}
    return {"samples": row.samples, "batch": row.setup.batch_size, "times_s": times, "first_epoch_s": first,
            "compile_s": {n: max(first[n] - steady[n], 0.0) for n in cases}, "ratios": ratios(times, "joint")}


def break_even(compile_s: float, eager_s: float, compiled_s: float) -> str:
    """Epochs after which the compiled run has caught up its compile time (``never`` when it is not faster)."""
    if compiled_s >= eager_s:
        return "never"
    return f"{math.ceil(compile_s / (eager_s - compiled_s))}"


def compile_section(rows: list[EpochRow], work: Path, rounds: int, clock: Callable[[], float] = time.perf_counter
                    ) -> tuple[str, list[dict[str, Any]]]:
    """Eager against ``--compile`` and a compiled whole forward, compile time and break-even included."""
    record, table = [], []
    failures = []
    for k, row in enumerate(rows):
        try:
            result = time_compiled_row(row, work / f"compile-{k}", rounds, clock)
        except Exception as err:  # compilation depends on the machine's compiler and torch build: report, go on
            failures.append(f"- {row.label}, batch {row.setup.batch_size}: compilation failed "
                            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})")
            record.append({"label": row.label, "batch": row.setup.batch_size, "error": repr(err)})
            continue
        result["label"] = row.label
        record.append(result)
        steady = {n: statistics.median(t) for n, t in result["times_s"].items()}
        for label, (name, mode) in COMPILED.items():
            eager = next(n for n, (c, md) in COMPILED.items() if c == name and md == "none")
            table.append([row.label, str(row.setup.batch_size), label, f"{1000 * steady[label]:.1f}",
                          "1" if label == "joint" else med_spread(result["ratios"][label]),
                          "-" if mode == "none" else f"{result['compile_s'][label]:.1f}",
                          "-" if mode == "none" else break_even(result["compile_s"][label], steady[eager],
                                                                 steady[label])])
    header = ["student", "batch", "case", "ms / epoch", "epoch / eager joint epoch", "compile s",
              "epochs to break even (vs the same case eager)"]
    text = ("### Compiled or eager: epoch cost and compile time\n\n"
            "The epoch cases above, eager, with `--compile` (each encoder and the fusion head compiled) and with "
            "the step's whole forward (encoders, fusion, objective, and its backward) as one compiled function; "
            "compile time = the first epoch (wall clock) − a steady epoch (graphs an earlier case of the row compiled are reused, as they are within one training run: G2D's cases come first); break-even = compile time / the time "
            f"a compiled epoch saves; median [min–max] over {rounds} side-by-side rounds of steady epochs. The "
            "SMP phase with a compiled whole forward is not timed (each choice of learning modality is its own "
            "graph).\n\n" + markdown_table(header, table) + "\n" + "".join(f"\n{f}" for f in failures)
            + ("\n" if failures else ""))
    return text, record

"""``g2d bench speed``: what G2D costs per step, what SMP saves, and how the input side keeps up.

Writes ``OUT/speed.md`` (and ``speed.json``, ``speed_scaling.png``). Every ratio is measured side
by side in one process: each round runs every case for ``--steps`` steps in a rotating order, and
the table gives the median over ``--rounds`` rounds with the [min–max] spread.

1. G2D step (G2D loss, teacher outputs read from a memory-mapped cache) vs joint step on the
   same two ResNet-18 encoders, concat fusion and batch: time and peak-memory ratios.
2. A step inside an SMP phase (one encoder learns; the other runs without autograd) vs a joint
   step, next to the prediction ``1 − B_e / T_joint`` from the suppressed encoder's own backward
   time ``B_e`` (measured alone in the same rounds); and a check that the suppressed encoder
   stayed bit-for-bit unchanged over every timed SMP step.
3. Teacher-cache reads as a share of the G2D step; a VGGSound-sized cache (200k × 2 × (309 + 512)
   floats) written to disk and read by random batches, with the process's memory before and after.
4. Input pipeline: decoding wav/jpg every epoch vs the preprocessed-input cache, with DataLoader
   workers (persistent) and pinned memory on CUDA (CREMA-D-format folder built from FSDD + MNIST).
5. Scaling: step time against batch size and against M = 2, 3, 6 (mfeat-like MLP views).
6. Epochs: G2D-epoch / joint-epoch and SMP-phase-epoch / joint-epoch — whole training epochs of
   the real trainer, data pipeline and cache reads included — for the MLP scaling rows and the
   ResNet rows, next to their goals (see :mod:`g2d.bench._epochs`).
7. G2D's extra epoch time piece by piece (M = 3 MLP rows).
8. Eager against compiled epochs (``--compile``, and the step's whole forward compiled): epoch
   cost, compile time, and the epochs after which compiling has paid for itself.
9. With ``--profile``: torch.profiler's operation counts and top operations of a joint and a G2D step.

``--clock cpu`` times with the process's CPU time instead of the wall clock: on a machine shared
with other jobs, the time spent waiting for a core is left out of every case alike.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch

from g2d import io
from g2d.bench._pipeline import cache_memory_section, input_pipeline_section
from g2d.bench._steps import (CLOCKS, StepSetup, encoder_runs, interleaved, make_cases, med_spread, peak_memory,
                              ratios)
from g2d.bench.grid import markdown_table
from g2d.commands import COUNT, NON_NEGATIVE, OUT_FOLDER, add_threads, float_option
from g2d.runtime import resolve_device

MFEAT_DIMS = {"fac": 216, "fou": 76, "kar": 64, "mor": 6, "pix": 240, "zer": 47}
MFEAT_SETS = {2: ["pix", "mor"], 3: ["fac", "fou", "mor"], 6: list(MFEAT_DIMS)}


def step_section(args: argparse.Namespace, device: torch.device, work: Path) -> tuple[str, dict[str, Any]]:
    """Sections 1 and 2: G2D / joint and SMP-phase / joint, time and memory, with the prediction."""
    shape = (args.channels, args.size, args.size)
    setup = StepSetup({"audio": shape, "video": shape}, {"name": "resnet18", "options": {"width": args.width}},
                      batch_size=args.batch_size, device=device, precision=args.precision,
                      channels_last=device.type == "cuda")
    cases = make_cases(setup, work / "step-cache")
    suppressed = setup.modalities[0]  # its teacher is the most confident: SMP phase 1 trains the other
    runs = {name: case.step for name, case in cases.items()}
    runs.update(encoder_runs(cases["joint"], suppressed))
    before = {k: v.detach().clone() for k, v in cases["smp"].model.encoders[suppressed].state_dict().items()}
    times = interleaved(runs, device, args.steps, args.rounds, clock=CLOCKS[args.clock])
    exact = all(torch.equal(before[k], v) for k, v in cases["smp"].model.encoders[suppressed].state_dict().items()
                if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    backward = [fb - f for fb, f in zip(times[f"{suppressed} forward+backward"], times[f"{suppressed} forward"])]
    predicted = [1 - b / t for b, t in zip(backward, times["joint"])]
    rel = ratios({n: times[n] for n in ("joint", "g2d", "smp")}, "joint")
    memory = {n: peak_memory(c) for n, c in cases.items()}
    mem_kind = memory["joint"][2]
    mem_ratio = {n: memory[n][0] / memory["joint"][0] if memory[n][0] else None for n in ("g2d", "smp")}
    step_mem = {n: memory[n][1] for n in memory}
    fmt_mem = lambda r: "n/a" if r is None else f"{r:.3f}"  # noqa: E731
    rows = [["G2D step / joint step (cached teachers, joint phase)", med_spread(rel["g2d"]),
             fmt_mem(mem_ratio["g2d"]), "-", "≤ 1.01"],
            [f"SMP-phase step / joint step ({cases['smp'].last_active and sorted(cases['smp'].last_active)[0]} learns, "
             f"{suppressed} suppressed)", med_spread(rel["smp"]), fmt_mem(mem_ratio["smp"]),
             med_spread(predicted), "< 1"]]
    table = markdown_table(["comparison", "time ratio, median [min–max]", "peak-memory ratio",
                            "predicted 1 − B_enc/T_joint", "goal"], rows)
    ms = lambda n: f"{1000 * statistics.median(times[n]):.2f}"  # noqa: E731
    absolute = markdown_table(["", "joint", "G2D (joint phase)", "G2D (SMP phase)", f"{suppressed} encoder backward alone"],
                              [["ms per step (median)", ms("joint"), ms("g2d"), ms("smp"),
                                f"{1000 * statistics.median(backward):.2f}"],
                               [f"peak memory, MiB: resting state + step ({mem_kind})"] +
                               [f"{memory[n][0] / 2**20:.1f}" if memory[n][0] else "n/a" for n in ("joint", "g2d", "smp")]
                               + ["-"],
                               ["of which the step allocates, MiB (high-water mark above the resting state)"] +
                               [f"{step_mem[n] / 2**20:.1f}" if step_mem[n] is not None else "n/a"
                                for n in ("joint", "g2d", "smp")] + ["-"]])
    text = (f"### Step cost: G2D and SMP vs joint\n\nTwo equal ResNet-18 encoders (width {args.width}, input "
            f"{args.channels}×{args.size}×{args.size} each), concat fusion, batch {args.batch_size}, SGD, "
            f"{args.precision}, {device}; {args.rounds} rounds × {args.steps} steps per case.\n\n{table}\n\n{absolute}\n\n"
            f"Complete suppression: the suppressed encoder's parameters after {args.rounds * args.steps + 2} "
            f"SMP-phase steps are bit-for-bit the ones before: **{'yes' if exact else 'NO'}** "
            "(BatchNorm running statistics still track the data, by design).\n")
    lookup_share = _lookup_share(cases["g2d"], device, args, times["g2d"])
    return text, {"times_s": times, "ratios": rel, "predicted_smp": predicted, "memory": memory,
                  "suppressed_unchanged": exact, "cache_lookup": lookup_share}


def _lookup_share(case, device: torch.device, args: argparse.Namespace, g2d_times: list[float]) -> dict[str, float]:
    from g2d.bench._steps import time_steps

    batch = case.data.get_batch(case.batch_indices())
    per_lookup = [time_steps(lambda: case.cache.lookup(batch), max(args.steps, 20), device) for _ in range(args.rounds)]
    return {"lookup_s": statistics.median(per_lookup), "step_s": statistics.median(g2d_times),
            "share": statistics.median(per_lookup) / statistics.median(g2d_times)}


def scaling_section(args: argparse.Namespace, device: torch.device, work: Path) -> tuple[str, dict[str, Any]]:
    """Step time of joint, G2D and SMP-phase steps vs batch size (M = 2, 3, 6) — a PNG plot."""
    mlp = {"name": "mlp", "options": {"hidden": [128], "out_dim": 64}}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for m, views in MFEAT_SETS.items():
        for batch in args.scaling_batches:
            setup = StepSetup({v: (MFEAT_DIMS[v],) for v in views}, mlp, num_classes=10, batch_size=batch,
                              device=device, precision=args.precision, pool=max(256, batch))
            cases = make_cases(setup, work / f"scale-{m}-{batch}")
            times = interleaved({n: c.step for n, c in cases.items()}, device, args.scaling_steps, 5,
                                clock=CLOCKS[args.clock])
            results.setdefault(str(m), {})[str(batch)] = {n: 1000 * statistics.median(t) for n, t in times.items()}
    plot = Path(args.out) / "speed_scaling.png"
    _plot_scaling(results, plot)
    header = ["M (views)", "batch"] + ["joint ms", "G2D ms", "SMP-phase ms", "G2D / joint"]
    rows = [[f"{m} ({'+'.join(MFEAT_SETS[int(m)])})", b, f"{r['joint']:.2f}", f"{r['g2d']:.2f}", f"{r['smp']:.2f}",
             f"{r['g2d'] / r['joint']:.3f}"] for m, per in results.items() for b, r in per.items()]
    text = (f"### Scaling: step time vs batch size and M (mfeat-like MLP views)\n\n![step time vs batch size and M]"
            f"({plot.name})\n\n" + markdown_table(header, rows) + "\n")
    return text, results


def epochs_section(args: argparse.Namespace, device: torch.device, work: Path) -> tuple[str, list[dict[str, Any]]]:
    """Section 6: whole-epoch ratios for the MLP scaling rows and the ResNet rows."""
    from g2d.bench._epochs import epoch_rows, epoch_section

    shape = (args.channels, args.size, args.size)
    resnet = StepSetup({"audio": shape, "video": shape}, {"name": "resnet18", "options": {"width": args.width}},
                       device=device, precision=args.precision, channels_last=device.type == "cuda")
    mlp_sets = {m: {v: MFEAT_DIMS[v] for v in views} for m, views in MFEAT_SETS.items()}
    rows = epoch_rows(mlp_sets, args.scaling_batches, resnet, args.epoch_resnet_batches, args.epoch_samples,
                      args.epoch_min_steps)
    return epoch_section(rows, work, args.epoch_rounds, CLOCKS[args.clock])


def parts_of_epoch_section(args: argparse.Namespace, device: torch.device, work: Path
                           ) -> tuple[str, list[dict[str, Any]]]:
    """Section 7: G2D's extra epoch time piece by piece, on the M = 3 MLP rows."""
    from g2d.bench._epochs import epoch_rows, parts_section

    where = StepSetup({"audio": (1,)}, {"name": "mlp"}, device=device, precision=args.precision)  # device only
    mlp = {3: {v: MFEAT_DIMS[v] for v in MFEAT_SETS[3]}}
    rows = epoch_rows(mlp, args.parts_batches, where, [], args.epoch_samples, args.epoch_min_steps)
    return parts_section(rows, work, args.epoch_rounds, CLOCKS[args.clock])


def compile_cost_section(args: argparse.Namespace, device: torch.device, work: Path
                         ) -> tuple[str, list[dict[str, Any]]]:
    """Section 8: eager against compiled epochs (M = 3 MLP rows and ResNet rows), compile time included."""
    from g2d.bench._epochs import compile_section, epoch_rows

    shape = (args.channels, args.size, args.size)
    resnet = StepSetup({"audio": shape, "video": shape}, {"name": "resnet18", "options": {"width": args.width}},
                       device=device, precision=args.precision, channels_last=device.type == "cuda")
    mlp = {3: {v: MFEAT_DIMS[v] for v in MFEAT_SETS[3]}}
    rows = epoch_rows(mlp, args.compile_batches, resnet, args.compile_resnet_batches, args.epoch_samples,
                      args.epoch_min_steps)
    return compile_section(rows, work, args.epoch_rounds, CLOCKS[args.clock])


def profile_section(args: argparse.Namespace, device: torch.device, work: Path) -> tuple[str, dict[str, Any]]:
    """Section 9 (``--profile``): torch.profiler over steps of the M = 3 MLP at the first scaling batch —
    operations per step of each case, and the G2D step's top operations by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    mlp = {"name": "mlp", "options": {"hidden": [128], "out_dim": 64}}
    batch = args.scaling_batches[min(1, len(args.scaling_batches) - 1)]
    setup = StepSetup({v: (MFEAT_DIMS[v],) for v in MFEAT_SETS[3]}, mlp, num_classes=10, batch_size=batch,
                      device=device, precision=args.precision, pool=max(256, batch))
    cases = make_cases(setup, work / "profile")
    steps, counts, tables = args.scaling_steps, {}, {}
    for name, case in cases.items():
        for _ in range(2):
            case.step()
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            for _ in range(steps):
                case.step()
        averages = prof.key_averages()
        counts[name] = {e.key: e.count / steps for e in averages}
        tables[name] = averages.table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=45)
    aten = {n: sum(v for k, v in c.items() if k.startswith("aten::")) for n, c in counts.items()}
    extra = sorted(((counts["g2d"].get(k, 0) - counts["joint"].get(k, 0), k) for k in counts["g2d"]
                    if k.startswith("aten::")), reverse=True)[:12]
    rows = [[n, f"{aten[n]:.0f}"] for n in ("joint", "g2d", "smp")]
    text = (f"### Profile: MLP, M=3 ({'+'.join(MFEAT_SETS[3])}), batch {batch} ({steps} steps per case)\n\n"
            + markdown_table(["step", "aten operations per step"], rows)
            + "\n\nOperations a G2D step (joint phase) adds to a joint step, per step: "
            + ", ".join(f"{k} {d:+.0f}" for d, k in extra if d > 0)
            + f"\n\nG2D step, top operations by self CPU time:\n\n```\n{tables['g2d']}\n```\n\n"
            + f"Joint step, top operations by self CPU time:\n\n```\n{tables['joint']}\n```\n")
    return text, {"aten_ops_per_step": aten, "added_by_g2d": {k: d for d, k in extra}}


def _plot_scaling(results: dict[str, dict[str, dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    styles = {"joint": "--", "g2d": "-", "smp": ":"}
    for k, (m, per) in enumerate(results.items()):
        batches = [int(b) for b in per]
        for name, style in styles.items():
            left.plot(batches, [per[str(b)][name] for b in batches], style, marker="o", color=f"C{k}",
                      label=f"M={m} {name}" if name != "smp" else f"M={m} SMP phase")
    left.set(xscale="log", yscale="log", xlabel="batch size", ylabel="ms per step", title="vs batch size")
    left.legend(fontsize=7, ncol=3)
    largest = max(int(b) for b in next(iter(results.values())))
    ms = [int(m) for m in results]
    for name, style in styles.items():
        right.plot(ms, [results[str(m)][str(largest)][name] for m in ms], style, marker="o", color="k",
                   label={"smp": "SMP phase"}.get(name, name))
    right.set(xlabel="modalities M", ylabel="ms per step", title=f"vs M (batch {largest})", xticks=ms)
    right.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_speed(args: argparse.Namespace) -> str:
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _run_speed(args)
    finally:
        torch.set_num_threads(threads)


def _run_speed(args: argparse.Namespace) -> str:
    device = resolve_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sections, record = [], {"device": str(device), "threads": args.threads, "precision": args.precision,
                            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "clock": args.clock}
    with tempfile.TemporaryDirectory(dir=out, prefix=".work-") as tmp:
        work = Path(tmp)
        text, record["steps"] = step_section(args, device, work)
        sections.append(text)
        text, record["cache"] = cache_memory_section(args, record["steps"]["cache_lookup"], work)
        sections.append(text)
        if not args.skip_input:
            text, record["input"] = input_pipeline_section(args, device, work)
            sections.append(text)
        if not args.skip_scaling:
            text, record["scaling"] = scaling_section(args, device, work)
            sections.append(text)
        if not args.skip_epochs:
            text, record["epochs"] = epochs_section(args, device, work)
            sections.append(text)
        if not args.skip_parts:
            text, record["parts"] = parts_of_epoch_section(args, device, work)
            sections.append(text)
        if not args.skip_compile:
            text, record["compile"] = compile_cost_section(args, device, work)
            sections.append(text)
        if args.profile:
            text, record["profile"] = profile_section(args, device, work)
            sections.append(text)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU ({torch.backends.cpu.get_cpu_capability()} kernels), {args.threads} thread(s)"
    text = (f"## g2d bench speed ({name}, torch {torch.__version__}; {args.clock} clock)\n\n" + "\n".join(sections))
    io.write_text(out / "speed.md", text)
    io.write_json(out / "speed.json", record)
    return text


def cmd_speed(args: argparse.Namespace) -> int:
    print(run_speed(args))
    print(f"written {Path(args.out) / 'speed.md'}")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=OUT_FOLDER, default="runs/bench/speed", help="output folder for the tables and figures (default runs/bench/speed)")
    p.add_argument("--device", default="cpu", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32", help="autocast precision of the timed steps")
    add_threads(p)
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="wall: elapsed time; cpu: this process's CPU time, which leaves out waiting for a core on a "
                        "machine shared with other jobs (CPU runs only)")
    p.add_argument("--rounds", type=COUNT, default=11, help="side-by-side rounds (median and spread over them)")
    p.add_argument("--steps", type=COUNT, default=8, help="steps per case per round")
    p.add_argument("--width", type=float_option(0.0, low_open=True), default=0.25, help="ResNet-18 width multiplier")
    p.add_argument("--size", type=COUNT, default=64, help="input side (both modalities)")
    p.add_argument("--channels", type=COUNT, default=3, help="input channels (both modalities)")
    p.add_argument("--batch-size", type=COUNT, default=16, help="batch of the timed steps")
    p.add_argument("--big-cache-samples", type=COUNT, default=200_000,
                   help="samples in the VGGSound-sized cache written to disk (0: skip)")
    p.add_argument("--big-cache-classes", type=COUNT, default=309, help="logits per sample in the big cache (VGGSound: 309)")
    p.add_argument("--big-cache-features", type=COUNT, default=512, help="features per sample in the big cache")
    p.add_argument("--big-cache-reads", type=COUNT, default=1000, help="random batches read from it")
    p.add_argument("--shared", default="../shared/data", help="folder with fsdd/ and mnist/ (input pipeline)")
    p.add_argument("--input-takes", type=COUNT, default=2, help="FSDD takes per speaker and digit in the train split")
    p.add_argument("--input-epochs", type=COUNT, default=3, help="epochs timed per input pipeline")
    p.add_argument("--workers", type=NON_NEGATIVE, default=2, help="DataLoader workers of the fast input pipeline")
    p.add_argument("--skip-input", action="store_true", help="skip the input-pipeline section")
    p.add_argument("--skip-scaling", action="store_true", help="skip the batch-size / M scaling section")
    p.add_argument("--scaling-batches", type=COUNT, nargs="+", default=[8, 32, 128, 512], help="batch sizes of the scaling section")
    p.add_argument("--scaling-steps", type=COUNT, default=20, help="steps per case in the scaling section")
    p.add_argument("--skip-epochs", action="store_true", help="leave out the whole-epoch ratios")
    p.add_argument("--epoch-rounds", type=COUNT, default=5, help="side-by-side rounds of whole epochs per row")
    p.add_argument("--epoch-samples", type=COUNT, default=2048,
                   help="train samples of an MLP row's epoch (ResNet rows: an eighth)")
    p.add_argument("--epoch-min-steps", type=COUNT, default=8, help="at least this many steps per epoch")
    p.add_argument("--skip-parts", action="store_true", help="leave out G2D's epoch cost piece by piece")
    p.add_argument("--parts-batches", type=COUNT, nargs="+", default=[32, 512],
                   help="batch sizes of the piece-by-piece rows (MLP, M = 3)")
    p.add_argument("--epoch-resnet-batches", type=COUNT, nargs="+", default=[16, 64],
                   help="batch sizes of the ResNet rows of the epoch section")
    p.add_argument("--profile", action="store_true",
                   help="add a torch.profiler table of a joint and a G2D step (M = 3 MLP, second scaling batch)")
    p.add_argument("--skip-compile", action="store_true", help="leave out eager vs compiled epochs (compiles for minutes)")
    p.add_argument("--compile-batches", type=COUNT, nargs="*", default=[32],
                   help="batch sizes of the MLP (M = 3) rows of the compile section")
    p.add_argument("--compile-resnet-batches", type=COUNT, nargs="*", default=[16],
                   help="batch sizes of the ResNet rows of the compile section")
    p.set_defaults(handler=cmd_speed)

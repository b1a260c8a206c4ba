"""``g2d bench gpu``: the GPU check — a ResNet-18 audio-visual student at batch 16 and 64, fp32 vs
bf16, joint vs G2D vs SMP-phase steps: time per step and peak memory, with the GPU's name.

CREMA-D-like shapes by default: audio a 1×257×188 spectrogram, video one 3×224×224 frame (both
ResNet-18 at full width, concat fusion, 6 classes). Each step is what the trainer runs per batch:
a non-blocking copy of a loaded, pinned batch (as the DataLoader hands it over), teacher outputs
read from a memory-mapped cache (G2D, SMP), forward under autocast, backward, SGD step. The three cases are timed side by
side (rotating order, ``--rounds`` rounds of ``--steps`` steps); peak memory is CUDA's
``max_memory_allocated`` over one step. In the SMP phase the audio encoder (its teacher is the
more confident one, as on CREMA-D) is suppressed: it runs without autograd.

Needs only torch and this package (and its import-time dependencies: numpy, pydantic, pyyaml,
safetensors, tqdm, soundfile, pillow). Runs on the CPU too (``--device cpu`` with tiny sizes:
what the test suite does). ``scripts/gpu_check.sh`` wraps it and writes to ``$OUT``.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from g2d import io
from g2d.bench._steps import COMPILE_MODES, StepSetup, interleaved, make_cases, med_spread, peak_memory, ratios
from g2d.bench.grid import markdown_table
from g2d.commands import COUNT, NON_NEGATIVE, OUT_FOLDER, float_option
from g2d.runtime import check_precision, resolve_device, synchronize

CASES = {"joint": "joint", "g2d": "G2D", "smp": "G2D, SMP phase"}
COMPILED_LABEL = {"none": "; eager", "model": "; torch.compile of each encoder and the fusion head (--compile)",
                  "step": "; torch.compile of the whole forward (encoders, fusion, objective)",
                  "cudagraphs": "; torch.compile of the whole forward with CUDA graphs (reduce-overhead)"}


def device_line(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return (f"{torch.cuda.get_device_name(device)} ({props.total_memory / 2**30:.0f} GiB, "
                f"compute capability {props.major}.{props.minor}), torch {torch.__version__}, "
                f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
    return f"{device} (no GPU), torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s)"


def run_config(args: argparse.Namespace, device: torch.device, batch: int, precision: str, work: Path) -> dict[str, Any]:
    shapes = {"audio": tuple(args.audio), "video": tuple(args.video)}
    setup = StepSetup(shapes, {"name": "resnet18", "options": {"width": args.width}}, num_classes=6,
                      batch_size=batch, device=device, precision=precision, pool=max(2 * batch, 32),
                      channels_last=args.channels_last if args.channels_last is not None else device.type == "cuda",
                      compile=args.compile)
    cases = make_cases(setup, work / f"cache-{batch}-{precision}")
    first = {}
    for name, case in cases.items():  # the first step: compilation (when compiled), cuDNN autotuning
        start = time.perf_counter()
        case.step()
        synchronize(device)
        first[name] = time.perf_counter() - start
    times = interleaved({n: c.step for n, c in cases.items()}, device, args.steps, args.rounds, warmup=args.warmup)
    memory = {n: peak_memory(c) for n, c in cases.items()}
    rel = ratios(times, "joint")
    learned = sorted(cases["smp"].last_active or [])
    del cases
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"times_s": times, "ratios": rel, "memory": {n: m[0] for n, m in memory.items()}, "first_step_s": first,
            "memory_kind": memory["joint"][2], "smp_learns": learned, "channels_last": setup.channels_last}


def run_gpu(args: argparse.Namespace) -> str:
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    else:
        torch.set_num_threads(args.threads)
    for precision in args.precisions:
        check_precision(device, precision)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results: dict[str, Any] = {}
    rows = []
    with tempfile.TemporaryDirectory(dir=out, prefix=".work-") as tmp:
        for batch in args.batch_sizes:
            for precision in args.precisions:
                r = run_config(args, device, batch, precision, Path(tmp))
                results[f"b{batch}-{precision}"] = r
                for name, label in CASES.items():
                    t = r["times_s"][name]
                    mem = r["memory"][name]
                    mem_joint = r["memory"]["joint"]
                    rows.append([str(batch), precision, label, med_spread([1000 * x for x in t], 2),
                                 f"{mem / 2**20:.0f}" if mem else "n/a",
                                 "1" if name == "joint" else med_spread(r["ratios"][name]),
                                 "1" if name == "joint" or not mem else f"{mem / mem_joint:.3f}",
                                 f"{r['first_step_s'][name]:.1f}"])
                print(f"batch {batch} {precision}: joint {1000 * statistics.median(r['times_s']['joint']):.1f} ms, "
                      f"G2D ×{statistics.median(r['ratios']['g2d']):.3f}, SMP ×{statistics.median(r['ratios']['smp']):.3f}",
                      flush=True)
    wall = time.perf_counter() - start
    any_result = next(iter(results.values()))
    table = markdown_table(["batch", "precision", "step", "ms per step, median [min–max]", "peak MiB",
                            "time / joint", "memory / joint", "first step s"], rows)
    text = (f"## g2d bench gpu\n\n**Device:** {device_line(device)}\n\n"
            f"ResNet-18 (width {args.width}) audio {tuple(args.audio)} + video {tuple(args.video)}, concat fusion, "
            f"SGD; channels-last {'on' if any_result['channels_last'] else 'off'}"
            f"{COMPILED_LABEL[args.compile]}; {args.rounds} rounds × {args.steps} steps per case, "
            f"side by side; memory: {any_result['memory_kind']}. SMP phase: audio suppressed, "
            f"{'+'.join(any_result['smp_learns'])} learns.\n\n{table}\n\nwall time {wall:.0f} s\n")
    io.write_text(out / "gpu_check.md", text)
    io.write_json(out / "gpu_check.json", {"device": device_line(device), "results": results, "wall_s": wall})
    return text


def cmd_gpu(args: argparse.Namespace) -> int:
    threads = torch.get_num_threads()
    try:
        print(run_gpu(args))
    finally:
        torch.set_num_threads(threads)
    print(f"written {Path(args.out) / 'gpu_check.md'}")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=OUT_FOLDER, default="runs/bench/gpu", help="output folder for the table (default runs/bench/gpu)")
    p.add_argument("--device", default="cuda", help="cuda | cuda:N | cpu | mps | auto")
    p.add_argument("--batch-sizes", type=COUNT, nargs="+", default=[16, 64], help="batch sizes to time")
    p.add_argument("--precisions", nargs="+", choices=["fp32", "bf16", "fp16"], default=["fp32", "bf16"],
                   help="precisions to time")
    p.add_argument("--width", type=float_option(0.0, low_open=True), default=1.0, help="ResNet-18 width multiplier")
    p.add_argument("--audio", type=COUNT, nargs="+", default=[1, 257, 188], help="audio input shape (C H W)")
    p.add_argument("--video", type=COUNT, nargs="+", default=[3, 224, 224], help="video input shape (C H W or T C H W)")
    p.add_argument("--steps", type=COUNT, default=20, help="steps per case per round")
    p.add_argument("--rounds", type=COUNT, default=3, help="side-by-side rounds (median and spread over them)")
    p.add_argument("--warmup", type=NON_NEGATIVE, default=5, help="untimed steps per case first")
    p.add_argument("--channels-last", dest="channels_last", action=argparse.BooleanOptionalAction, default=None,
                   help="channels-last layout (default: on for CUDA)")
    p.add_argument("--compile", nargs="?", const="model", default="none", choices=COMPILE_MODES,
                   help="none (eager); model (bare --compile: the encoders and fusion head, as `--compile` in "
                        "training); step (the whole forward: encoders, fusion, objective); cudagraphs (step with "
                        "CUDA graphs, mode reduce-overhead)")
    p.add_argument("--threads", type=NON_NEGATIVE, default=1, help="CPU threads when --device cpu")
    p.set_defaults(handler=cmd_gpu)


if __name__ == "__main__":  # ``python -m g2d.bench.gpu``: imports only what this check needs
    import sys

    parser = argparse.ArgumentParser(prog="python -m g2d.bench.gpu", description=__doc__.split("\n")[0])
    add_arguments(parser)
    sys.exit(cmd_gpu(parser.parse_args()))

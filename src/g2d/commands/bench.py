"""``g2d bench <name>``: benchmarks, one module each under :mod:`g2d.bench`.

Listing them (``g2d bench --help``) imports no benchmark: each is named here with its one-line help,
and its own options are parsed by its module's ``add_…arguments`` only when it runs (or is asked
for ``--help``), so the command line answers without importing torch."""
from __future__ import annotations

import argparse
import importlib
from functools import partial

from g2d.commands import apply_threads

#: benchmark name -> (module under g2d.bench, its function that adds the options, one-line help)
BENCHMARKS: dict[str, tuple[str, str, str]] = {
    "data-cache-speed": ("real_digits", "add_data_cache_speed_arguments",
                         "epoch time with vs without the preprocessed-input cache (CREMA-D-format folder "
                         "built from FSDD + MNIST)"),
    "evidence": ("evidence", "add_arguments", "G2D vs joint on real data: paired differences over seeds, "
                 "per-modality accuracy, SMP schedules"),
    "fusion": ("fusion", "add_arguments", "G2D accuracy per fusion module (paper Table 5)"),
    "gpu": ("gpu", "add_arguments", "GPU check: ResNet-18 audio-visual student, batch 16/64, fp32/bf16, "
            "joint vs G2D vs SMP-phase step time and peak memory"),
    "make-av-digits": ("real_digits", "add_make_av_digits_arguments",
                       "write AV-digits (noisy and clean) in AV-MNIST format"),
    "methods": ("methods", "add_arguments", "methods x seeds on one config; SMP ablation (Table 4) and "
                "suppression (Table 6) tables as markdown"),
    "prepare": ("prepare", "add_arguments", "g2d prepare: clips/s and peak memory, 1 vs N workers, on "
                "generated CREMA-D-like clips (half vs all clips: memory does not grow with the count)"),
    "real-digits": ("real_digits", "add_arguments", "G2D vs baselines on AV-digits (FSDD+MNIST) and UCI mfeat"),
    "speed": ("speed", "add_arguments", "step-time and memory ratios (G2D, SMP vs joint), cache reads, input "
              "pipeline, scaling; markdown table + plot"),
    "table1": ("table1", "add_arguments", "the paper's Table 1: every method x data set x modality, teachers "
               "beside, mean ± std over seeds, as markdown"),
}


def benchmark_parser(name: str) -> argparse.ArgumentParser:
    """The full parser of one benchmark (imports its module, and with it torch)."""
    module, function, help_text = BENCHMARKS[name]
    parser = argparse.ArgumentParser(prog=f"g2d bench {name}", description=help_text)
    getattr(importlib.import_module(f"g2d.bench.{module}"), function)(parser)
    return parser


def run_benchmark(name: str, args: argparse.Namespace) -> int:
    inner = benchmark_parser(name).parse_args(args.rest)
    apply_threads(inner)
    return int(inner.handler(inner) or 0)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="benchmarks that write markdown tables and figures")
    inner = parser.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    for name, (_, _, help_text) in BENCHMARKS.items():
        # the benchmark's own parser reads the rest of the line, --help included (see g2d.cli.main)
        p = inner.add_parser(name, help=help_text, add_help=False)
        p.set_defaults(handler=partial(run_benchmark, name), rest=[], takes_rest=True)

"""``g2d bench prepare``: speed and memory of ``g2d prepare`` — clips per second and peak resident
memory with 1 and N workers on a generated CREMA-D-like download (``--clips`` tiny .flv + .wav
clips), and the same with half the clips, to show that memory does not grow with the clip count
(clips are streamed one at a time; at most 2 per worker are in flight).

Each case runs in a fresh process (``python -c``, the prepare package only: no torch), which
reports its wall time, its own peak RSS (``VmHWM``) and its workers' (``getrusage`` of the
children: the largest single worker). Writes ``prepare.md`` (a markdown table) and ``prepare.json`` to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from g2d.commands import COUNT, OUT_FOLDER, add_threads, float_option

CASE = """
import json, resource, sys, time
from g2d.prepare import prepare
raw, out, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.perf_counter()
result = prepare("cremad", raw, out, {{"split": "speakers"}}, workers=workers)
wall = time.perf_counter() - start
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
main_kib = int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"wall_s": wall, "clips": result.prepared, "main_mib": main_kib / 1024,
                  "worker_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}}))
"""


def run_case(raw: Path, out: Path, workers: int) -> dict[str, Any]:
    """One ``prepare`` in a fresh process; its time and peak memory."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CASE.format(), str(raw), str(out), str(workers)],
                          capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"prepare case (workers={workers}, {raw}) failed:\n{done.stderr[-2000:]}")
    record = json.loads(done.stdout.strip().splitlines()[-1])
    record.update({"workers": workers, "clips_per_s": record["clips"] / record["wall_s"]})
    return record


def subset(raw: Path, names: list[str], dest: Path) -> Path:
    """A raw folder holding the first clips only (symbolic links)."""
    for sub, suffix in (("VideoFlash", ".flv"), ("AudioWAV", ".wav")):
        (dest / sub).mkdir(parents=True, exist_ok=True)
        for name in names:
            (dest / sub / f"{name}{suffix}").symlink_to(raw / sub / f"{name}{suffix}")
    return dest


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [f"`g2d bench prepare`: {meta['clips']} generated CREMA-D-like clips ({meta['seconds']} s, "
             f"{meta['size'][0]}x{meta['size'][1]} FLV1 video at 10 fps + 16 kHz wav), defaults (1 frame/s, "
             f"16 kHz mono wav), {meta['cpus']} CPU core(s), PyAV {meta['av']}.", "",
             "| clips | workers | wall (s) | clips/s | peak RSS, main process (MiB) | peak RSS, largest worker (MiB) |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        worker = f"{r['worker_mib']:.0f}" if r["workers"] > 1 else "— (in the main process)"
        lines.append(f"| {r['clips']} | {r['workers']} | {r['wall_s']:.2f} | {r['clips_per_s']:.1f} | "
                     f"{r['main_mib']:.0f} | {worker} |")
    return "\n".join(lines) + "\n"


def cmd_prepare_bench(args: argparse.Namespace) -> int:
    from g2d.prepare.media import require_av
    from g2d.prepare.synthetic import make_cremad_like

    av = require_av()
    workers = args.workers or os.cpu_count() or 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="g2d-bench-prepare-") as tmp:
        work = Path(tmp)
        size = tuple(args.size)
        names = make_cremad_like(work / "raw", args.clips, args.seconds, size)
        half = subset(work / "raw", names[:args.clips // 2], work / "raw-half")
        cases = [(half, 1), (work / "raw", 1), (half, workers), (work / "raw", workers)]
        rows = []
        for i, (raw, n) in enumerate(cases):
            rows.append(run_case(raw, work / f"out-{i}", n))
            print(f"{rows[-1]['clips']} clips, {n} worker(s): {rows[-1]['clips_per_s']:.1f} clips/s, "
                  f"peak {rows[-1]['main_mib']:.0f} MiB main / {rows[-1]['worker_mib']:.0f} MiB worker",
                  file=sys.stderr)
    meta = {"clips": args.clips, "seconds": args.seconds, "size": list(size), "cpus": os.cpu_count(),
            "av": av.__version__, "workers": workers}
    (out / "prepare.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    table = markdown(rows, meta)
    (out / "prepare.md").write_text(table)
    print(table)
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=OUT_FOLDER, default="runs/bench/prepare", help="output folder (default runs/bench/prepare)")
    p.add_argument("--clips", type=COUNT, default=200, help="generated clips (the half-size case uses half)")
    p.add_argument("--seconds", type=float_option(0.0, low_open=True), default=2.5, help="length of each clip (CREMA-D's are 2-5 s)")
    p.add_argument("--size", type=COUNT, nargs=2, default=[160, 120], metavar=("W", "H"), help="frame size")
    p.add_argument("--workers", type=COUNT, default=None, help="the N of 1-vs-N (default: every core)")
    add_threads(p)  # the shared option; prepare itself runs no torch
    p.set_defaults(handler=cmd_prepare_bench)

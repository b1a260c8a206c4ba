"""Does SMP's ``neglect`` ranking do better on accuracy than on confidence? (issue 27, item 3)

SMP's ``neglect`` ranking (and its adaptive schedule's "has it caught up" test) reads, per epoch,
the ratio Σ student-path score / Σ teacher score over the training batches, where the score is the
true-label confidence. This script trains the default ``g2d`` twice per case and seed on the same
teachers and cache: with that signal, and with the per-sample *correctness* (argmax = label) as the
score, i.e. the ratio of the path's training accuracy to its teacher's — patched in here, the library
is unchanged. Reports fused test accuracy, each path's test accuracy and the schedule SMP took.

    PYTHONPATH=src python scripts/smp_signal_study.py --out runs/smp-signal --cases demo mfeat-pix-mor --seeds 0,1,2
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

from g2d import api, io
from g2d.config import replace
from g2d.demo import demo_config
from g2d.modulators import smp as smp_module

sys.path.insert(0, str(Path(__file__).parent))
from diagnosis_study import build_cases  # noqa: E402  (the same cases, teachers and caches)

ORIGINAL = smp_module.SequentialModalityPrioritization.on_after_backward


def on_after_backward_accuracy(self: Any, state: Any) -> None:
    """SMP's measurement with correctness instead of confidence (classification)."""
    if state.output is None or state.teacher is None:
        return
    target = state.batch.target
    with torch.no_grad():
        student = torch.stack([(state.output.modality_logits[m].argmax(-1) == target).float() for m in self.modalities])
        teacher = torch.stack([(state.teacher.logits[m].argmax(-1) == target).float() for m in self.modalities])
        sums = torch.stack([student.sum(-1), teacher.sum(-1)])
    self._last_batch = sums
    self._sums = sums if self._sums is None else self._sums + sums


def schedule(student_dir: Path) -> list[str]:
    """Per epoch: the prioritised modality ('-' for joint)."""
    rows = [json.loads(line) for line in (student_dir / "metrics.jsonl").read_text().splitlines()]
    return [",".join(r.get("modulators", {}).get("smp", {}).get("prioritised", [])) or "-" for r in rows]


def train(config: Any, run_dir: Path, signal: str) -> dict[str, Any]:
    name = f"g2d-{signal}"
    done = run_dir / "students" / name / "result.json"
    if not done.exists():
        smp_module.SequentialModalityPrioritization.on_after_backward = (
            on_after_backward_accuracy if signal == "accuracy" else ORIGINAL)
        g2d = replace(config, {"method": {"name": "g2d", "options": {}, "modulators": []}}, name)
        api.train_student(g2d, run_dir, progress=False, name=name)
        smp_module.SequentialModalityPrioritization.on_after_backward = ORIGINAL
    result = io.read_json(done)
    return {"test": result["test"]["accuracy"], "modality": result["test"]["modality_accuracy"],
            "schedule": schedule(run_dir / "students" / name)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/diagnosis-study", help="the diagnosis study's folder (teachers reused)")
    p.add_argument("--shared", default="../shared/data")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--cases", nargs="+", default=["demo", "mfeat-pix-mor", "mfeat-fac-fou-mor"])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--av-epochs", type=int, default=20)
    p.add_argument("--mfeat-epochs", type=int, default=40)
    p.add_argument("--sklearn-digits", default=None)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    args.data_dir = args.data_dir or str(out / "data")
    configs = build_cases(args)
    if "demo" in args.cases:
        configs["demo"] = demo_config()
    rows = []
    for name, config in configs.items():
        for seed in (int(s) for s in args.seeds.split(",")):
            run_dir = out / name / f"seed-{seed}"
            cfg = replace(config, {"seed": seed}, name)
            api.teachers_for(cfg, run_dir, api.load_data(cfg), progress=False)
            res = {signal: train(cfg, run_dir, signal) for signal in ("confidence", "accuracy")}
            rows.append({"case": name, "seed": seed} | res)
            c, a = res["confidence"], res["accuracy"]
            print(f"{name} seed {seed}: fused conf {100 * c['test']:.1f} acc {100 * a['test']:.1f} | "
                  f"paths conf {({m: round(100 * v, 1) for m, v in c['modality'].items()})} "
                  f"acc {({m: round(100 * v, 1) for m, v in a['modality'].items()})}\n"
                  f"   schedule conf {' '.join(c['schedule'][:12])}\n   schedule acc  {' '.join(a['schedule'][:12])}",
                  flush=True)
    io.write_json(out / "smp_signal.json", rows)
    for name in configs:
        diffs = [100 * (r["accuracy"]["test"] - r["confidence"]["test"]) for r in rows if r["case"] == name]
        if diffs:
            sd = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
            print(f"{name}: accuracy − confidence signal, fused test: {statistics.mean(diffs):+.2f} ± {sd:.2f} "
                  f"({', '.join(f'{d:+.1f}' for d in diffs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# GPU check of issue #10: `g2d bench gpu` (ResNet-18 audio-visual student, batch 16 and 64,
# fp32 vs bf16, joint vs G2D vs SMP-phase step time and peak memory, the GPU's name).
# Under 5 minutes on one GPU. Writes gpu_check.md/.json to $OUT when set, else runs/bench/gpu.
# Needs torch + this package's import-time deps (numpy, pydantic, pyyaml, safetensors, tqdm,
# soundfile, pillow); works from a plain checkout (src/ on PYTHONPATH) without installing.
# Extra arguments go to `g2d bench gpu` (e.g. --device cpu --width 0.0625 for a dry run).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT_DIR="${OUT:-runs/bench/gpu}"
"$PYTHON" - <<'PY' || true
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(0))
PY
"$PYTHON" -m g2d.bench.gpu --out "$OUT_DIR" "$@"

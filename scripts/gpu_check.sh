#!/usr/bin/env bash
# GPU check (issues #10, #29): `g2d bench gpu` — ResNet-18 ×2 audio-visual student, batch 16 and 64,
# fp32 and bf16, joint vs G2D vs SMP-phase step time and peak memory, the GPU's name — once per
# compile mode: eager, the whole forward compiled, the whole forward with CUDA graphs, and `--compile`
# (each encoder and the fusion head). Each mode writes $OUT/<mode>/gpu_check.md as soon as it is done
# (a cut-off run keeps the modes before it); $OUT/gpu_check.md joins them. About 10 minutes on one GPU
# (compilation is most of it); MODES="none step" runs fewer.
# Needs torch + this package's import-time deps (numpy, pydantic, pyyaml, safetensors, tqdm,
# soundfile, pillow); works from a plain checkout (src/ on PYTHONPATH) without installing.
#   scripts/gpu_check.sh            the check on cuda
#   scripts/gpu_check.sh --smoke    the same script end to end on the CPU with tiny sizes (no GPU needed)
# Extra arguments go to every `g2d bench gpu` call.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT_DIR="${OUT:-runs/bench/gpu}"
MODES="${MODES:-none step cudagraphs model}"
SIZES=()
if [ "${1:-}" = "--smoke" ]; then
  shift
  SIZES=(--device cpu --width 0.0625 --audio 1 16 12 --video 3 16 16 --batch-sizes 4 8 --steps 1 --rounds 1 --warmup 1)
fi
"$PYTHON" - <<'PY' || true
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(0))
PY
mkdir -p "$OUT_DIR"
: > "$OUT_DIR/gpu_check.md"
for mode in $MODES; do
  echo "== compile mode: $mode"
  "$PYTHON" -m g2d.bench.gpu --out "$OUT_DIR/$mode" --compile "$mode" "${SIZES[@]}" "$@"
  { cat "$OUT_DIR/$mode/gpu_check.md"; echo; } >> "$OUT_DIR/gpu_check.md"
done
echo "written $OUT_DIR/gpu_check.md"

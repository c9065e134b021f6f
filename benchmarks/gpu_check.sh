#!/usr/bin/env bash
# One prepared GPU check (under five minutes on one H100/H200):
#   1. the paper's Table 3 at 256² (ISNet B=4, width 1, batch 1, one-shot vs PRA) with fp32 / channels-last /
#      bf16 / the fast path (bf16 + channels-last + folded spectral norm), and the composite's PSNR vs fp32;
#   2. the paper profile's training step (batch 8, 256², paper-eq5 loss, hinge, G then D) in fp32,
#      channels-last, bf16 and bf16+channels-last: it/s, images/s, GFLOP/s;
#   3. a 20-iteration training run on CUDA in bf16 + channels-last through the whole loop (data, validation,
#      checkpoints) and a resume of it, to show the engine runs there end to end.
# The feature backbone is vgg16-random: the same architecture and cost as ImageNet VGG16, no download.
#
#   bash benchmarks/gpu_check.sh            # on the GPU machine; results in $OUT (or /tmp/isnet_gpu_check)
#   DEVICE=cpu QUICK=1 bash benchmarks/gpu_check.sh   # dry run of the script itself on a CPU
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
DEVICE=${DEVICE:-cuda}
OUTDIR=${OUT:-/tmp/isnet_gpu_check}
mkdir -p "$OUTDIR"
QUICK_ARGS=()
SIZE_ARGS=(--size 256 --blocks 4 --width 1.0 --train-batch 8)
RUN_ARGS=(data.size=64 train.batch=8 model.width=0.5 model.blocks=2)
if [ "${QUICK:-0}" = "1" ]; then
  QUICK_ARGS=(--quick)
  SIZE_ARGS=()
  RUN_ARGS=(model.width=0.125 train.batch=2)
fi

{
  echo "# gpu_check $(date -u +%FT%TZ)"
  git rev-parse HEAD 2>/dev/null || true
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
} 2>&1 | tee "$OUTDIR/env.txt"

# 1 + 2: Table 3 and the training step, side by side per precision path
"$PY" -m isnet bench table3 --device "$DEVICE" "${SIZE_ARGS[@]}" "${QUICK_ARGS[@]}" \
  --pairs 20 --repeats 5 --warmup 3 --train-steps 10 2>&1 | tee "$OUTDIR/table3.md"

# 3: the real loop on the device, then a resume (bf16 + channels-last; CUDA determinism is warn-only)
RUN="$OUTDIR/run"
rm -rf "$RUN"
"$PY" -m isnet train --profile smoke --no-progress out.dir="$RUN" train.device="$DEVICE" train.amp=bf16 \
  train.channels_last=true train.iterations=10 train.val_every=5 "${RUN_ARGS[@]}" > "$OUTDIR/train_first.json"
"$PY" -m isnet train --profile smoke --resume --no-progress out.dir="$RUN" train.device="$DEVICE" train.amp=bf16 \
  train.channels_last=true train.iterations=20 train.val_every=5 "${RUN_ARGS[@]}" | tee "$OUTDIR/train_resumed.json"
rm -f "$RUN"/checkpoints/*.pt   # keep logs and samples, drop the weights (large, git-ignored anyway)
echo "gpu_check done: $OUTDIR"

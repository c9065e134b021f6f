#!/usr/bin/env bash
# One prepared GPU check (budget: under 8 minutes on one H100/H200; each part has its own time limit):
#   1. training throughput (isnet bench train) of the paper profile at 256² (ISNet B=4, width 1, batch 8,
#      paper-eq5, hinge): the authors' path (2×VGG19, 4 passes, nsgan, fp32), ours fp32, channels-last,
#      bf16, bf16 autocast + channels-last, and that compiled (torch.compile of G, compile time apart);
#      images/s, × the authors' path, the estimated wall time of one run and of the whole study;
#   2. smoke, laptop (and `gpu`, when isnet.study.PROFILES has one) on the GPU, no compile, same outputs;
#   3. the paper's Table 3 at 256² (batch 1, one-shot vs PRA; fp32 / channels-last / bf16 / bf16 + cl +
#      folded spectral norm, with the composite's PSNR vs fp32);
#   4. a 20-iteration training run on the device in bf16 + channels-last through the whole loop (data,
#      validation, checkpoints) and a resume of it.
# Feature backbones the machine has no weights for are replaced by random ones of the same architecture
# (same cost, no download); the headers say which were used.
#
#   bash benchmarks/gpu_check.sh            # on the GPU machine; results in $OUT (or /tmp/isnet_gpu_check)
#   DEVICE=cpu QUICK=1 bash benchmarks/gpu_check.sh   # dry run of the script itself on a CPU (toy sizes)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
DEVICE=${DEVICE:-cuda}
OUTDIR=${OUT:-/tmp/isnet_gpu_check}
mkdir -p "$OUTDIR"
T=timeout
START=$(date +%s)

BIG_PROFILES=(paper)
SMALL_PROFILES=(smoke laptop)
if "$PY" -c "import sys; from isnet.study import PROFILES; sys.exit(0 if 'gpu' in PROFILES else 1)" 2>/dev/null; then
  SMALL_PROFILES=(smoke laptop gpu)   # the gpu profile without the compiled path: one compile fits the budget
fi
AUTHORS="authors (2×VGG19, 4 passes, nsgan)"
BIG_PATHS=("$AUTHORS" fp32 channels-last bf16 "bf16 + channels-last" "bf16 + channels-last, compiled")
SMALL_PATHS=("$AUTHORS" fp32 channels-last "bf16 + channels-last")
TRAIN_ARGS=(--repeats 10 --warmup 3)
T3_ARGS=(--size 256 --blocks 4 --width 1.0 --pairs 10 --repeats 3 --warmup 2)
LOOP_ARGS=(data.size=64 train.batch=8 model.width=0.5 model.blocks=2)
LIMIT_BIG=240 LIMIT_SMALL=90 LIMIT_T3=60 LIMIT_LOOP=45   # at most 480 s in all (typically far less)
if [ "${QUICK:-0}" = "1" ]; then
  BIG_PROFILES=(smoke)
  SMALL_PROFILES=(smoke laptop)
  BIG_PATHS=("$AUTHORS" fp32 channels-last)
  SMALL_PATHS=(fp32)
  TRAIN_ARGS=(--quick --repeats 1 --warmup 0)
  T3_ARGS=(--quick)
  LOOP_ARGS=(model.width=0.125 train.batch=2)
  LIMIT_BIG=600 LIMIT_SMALL=600 LIMIT_T3=600 LIMIT_LOOP=600
fi

{
  echo "# gpu_check $(date -u +%FT%TZ)"
  git rev-parse HEAD 2>/dev/null || true
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
} 2>&1 | tee "$OUTDIR/env.txt"

# 1: the big profiles' training step, compiled path included (images/s, × authors, wall time per run and study)
$T "$LIMIT_BIG" "$PY" -m isnet bench train --device "$DEVICE" --profile "${BIG_PROFILES[@]}" --paths "${BIG_PATHS[@]}" \
  "${TRAIN_ARGS[@]}" --csv "$OUTDIR/train_big.csv" 2>&1 | tee "$OUTDIR/train_big.md" || echo "part 1 failed or timed out"

# 2: the other profiles on the same device, no compile
$T "$LIMIT_SMALL" "$PY" -m isnet bench train --device "$DEVICE" --profile "${SMALL_PROFILES[@]}" --paths "${SMALL_PATHS[@]}" \
  "${TRAIN_ARGS[@]}" --csv "$OUTDIR/train_small.csv" 2>&1 | tee "$OUTDIR/train_small.md" || echo "part 2 failed or timed out"

# 3: Table 3 at 256² (inference only; the training rows are part 1)
$T "$LIMIT_T3" "$PY" -m isnet bench table3 --device "$DEVICE" --no-train "${T3_ARGS[@]}" 2>&1 \
  | tee "$OUTDIR/table3.md" || echo "part 3 failed or timed out"

# 4: the real loop on the device, then a resume (bf16 + channels-last; CUDA determinism is warn-only)
RUN="$OUTDIR/run"
rm -rf "$RUN"
{
  $T "$LIMIT_LOOP" "$PY" -m isnet train --profile smoke --no-progress out.dir="$RUN" train.device="$DEVICE" \
    train.amp=bf16 train.channels_last=true train.iterations=10 train.val_every=5 "${LOOP_ARGS[@]}" > "$OUTDIR/train_first.json"
  $T "$LIMIT_LOOP" "$PY" -m isnet train --profile smoke --resume --no-progress out.dir="$RUN" train.device="$DEVICE" \
    train.amp=bf16 train.channels_last=true train.iterations=20 train.val_every=5 "${LOOP_ARGS[@]}" | tee "$OUTDIR/train_resumed.json"
} || echo "part 4 failed or timed out"
rm -f "$RUN"/checkpoints/*.pt   # keep logs and samples, drop the weights (large, git-ignored anyway)

echo
echo "## estimated wall time per profile (training steps at the fastest path that trains the same thing)"
grep -h "one run of" "$OUTDIR"/train_big.md "$OUTDIR"/train_small.md 2>/dev/null || true
echo "gpu_check done in $(( $(date +%s) - START )) s: $OUTDIR"

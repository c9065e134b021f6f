#!/usr/bin/env bash
# The CPU ablation grid on one GPU: profile `ablation` (Table 7's base, base+FF, ISNet and the parameter-matched
# UNet-like and ours with resize-convolutions, Eq. (4) vs (5), Table 8's B = 1 vs 2; 48 px, width 0.25, the fast
# recipe's 6000 iterations; 7 configurations x 4 seeds = 28 runs) trained JOBS at a time on the one device (`isnet study --jobs`: several
# worker processes per GPU, each run claimed once, so a second machine may share the results folder), then
# scored into the profile's tables, verdicts and executed notebooks. Budget: 10 minutes of device time; what is
# not finished when the limit hits is resumed by running the script again on the same results folder.
#
#   bash benchmarks/gpu_ablation.sh                                  # on the GPU machine; results in $OUT
#   DEVICE=cpu PROFILE=smoke JOBS=2 ONLY=03_architecture bash benchmarks/gpu_ablation.sh   # dry run on a CPU
#
# What comes back (small files only: no checkpoint): results/<profile>/{SUMMARY.md,tables,figures,runs/*/
# generator-fp16.*, runs/*/eval-*.csv, runs/index.csv}, the study log and the elapsed time. Commit the results
# folder with `cp -r $OUT/results/ablation results/` after checking SUMMARY.md (the study refuses a dirty tree
# for committed profiles unless --allow-dirty, which is recorded in env.json).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
DEVICE=${DEVICE:-cuda}
PROFILE=${PROFILE:-ablation}
JOBS=${JOBS:-14}            # 28 runs of a 1.35 M-parameter G at 48 px: a fraction of an H100/H200 each
LIMIT=${LIMIT:-560}         # seconds for the study (the device check's whole budget is 10 minutes)
ONLY=${ONLY:-}
OUTDIR=${OUT:-/tmp/isnet_gpu_ablation}
RESULTS="$OUTDIR/results"
mkdir -p "$RESULTS"
START=$(date +%s)
{
  echo "# gpu_ablation $(date -u +%FT%TZ) profile=$PROFILE device=$DEVICE jobs=$JOBS limit=${LIMIT}s"
  git rev-parse HEAD 2>/dev/null || true
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv || true
} 2>&1 | tee "$OUTDIR/env.txt"

ARGS=(--profile "$PROFILE" --device "$DEVICE" --jobs "$JOBS" --results "$RESULTS" --allow-dirty --resume)
[ -n "$ONLY" ] && ARGS+=(--only $ONLY)
status=0
timeout "$LIMIT" "$PY" -m isnet study "${ARGS[@]}" 2>&1 | tee "$OUTDIR/study.log" || status=$?
ELAPSED=$(( $(date +%s) - START ))

echo
echo "## runs of $PROFILE (runs/index.csv)"
"$PY" - "$RESULTS/$PROFILE" <<'EOF'
import sys
from pathlib import Path
import pandas as pd
folder = Path(sys.argv[1])
index = folder / "runs" / "index.csv"
if index.exists():
    runs = pd.read_csv(index)
    cols = [c for c in ("method", "seed", "status", "iteration", "minutes", "final_psnr") if c in runs]
    print(runs[cols].to_string(index=False))
    print(f"{int((runs.get('status') == 'finished').sum()) if 'status' in runs else '?'} of {len(runs)} runs finished")
else:
    print("no run finished yet")
claims = folder / "tables" / "claims.csv"
if claims.exists():
    c = pd.read_csv(claims)
    print(c[[k for k in ("claim", "verdict", "effect", "interval") if k in c]].to_string(index=False))
EOF
for run in "$RESULTS/$PROFILE"/runs/*/; do  # a scored run's weights stay as generator-fp16.pt (a few MB)
  if [ -f "$run/generator-fp16.pt" ]; then rm -rf "$run/checkpoints"; fi
done
if [ "$status" = 124 ]; then
  echo "gpu_ablation: the study hit its ${LIMIT} s limit after ${ELAPSED} s; run the script again to resume"
elif [ "$status" != 0 ]; then
  echo "gpu_ablation: the study failed (exit $status) after ${ELAPSED} s: $OUTDIR/study.log"
  exit "$status"
else
  echo "gpu_ablation done in ${ELAPSED} s: $RESULTS/$PROFILE"
fi

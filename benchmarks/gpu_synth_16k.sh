#!/usr/bin/env bash
# SynthSAEBench-16k on one GPU (H100 or H200), Keras on the JAX backend.
#
# The published setting: 16,384 features in 768 dimensions, SAEs of width
# 4096 with k 25, batch 1024, Adam lr 3e-4, 200M samples (195,312 steps).
#
#   bash benchmarks/gpu_synth_16k.sh quick   # 2M samples: fits one call
#   bash benchmarks/gpu_synth_16k.sh full    # 200M samples, in chunks:
#                                            # rerun until it prints a table
#   bash benchmarks/gpu_synth_16k.sh smoke   # the logic on a CPU, tiny
#
# The device tool runs a command for at most 10 minutes, so `full` trains
# for MAX_SECONDS (default 420) per call, saves each unfinished model in
# CHECKPOINT (default .gpu_checkpoint/, git-ignored), and the same command
# resumes it; the table is written once every model is finished and
# scored. The checkpoints live on the device machine: the chunks must run
# on the same warm machine (it is held for at most 30 minutes).
#
# Device call (see ../shared/gpu/README.md; the GPU machine has no Keras
# and no SciPy, so carry both as wheels, made here once with
# `bash ../shared/gpu/wheels.sh scipy`):
#
#   run(carry=[".whl"], timeout_s=600, command=
#     "python3 -m pip install -q --no-index --no-deps --no-compile "
#     "--no-cache-dir --upgrade --target .gpu_site .whl/*.whl && "
#     "export PYTHONPATH=$PWD/.gpu_site:$PWD || exit; "
#     "bash benchmarks/gpu_synth_16k.sh quick")
#
# Results: benchmarks/results/synth_sae_16k_{quick,full}_jax[_$TAG].{json,md},
# copied to $OUT too when the device tool sets it. Extra arguments go to
# benchmarks/synth_sae.py: e.g. bf16 beside float32,
#   TAG=bf16 bash benchmarks/gpu_synth_16k.sh quick --dtype mixed_bfloat16
# WORKERS processes draw the batches (forked; JAX warns about the fork,
# which the workers survive as they only run NumPy): WORKERS=1 if not.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-quick}
shift || true
export KERAS_BACKEND=${KERAS_BACKEND:-jax}
export TF_CPP_MIN_LOG_LEVEL=2

# Our architectures: each a MODEL_SPECS key or an activation name of
# SparseAutoencoder (see benchmarks/synth_sae.py); JumpReLU with its L0
# pulled to k, as the published table compares it at L0 25.
models=${MODELS:-topk,batch_topk,matryoshka,jumprelu_target}
workers=${WORKERS:-8}
checkpoint=${CHECKPOINT:-.gpu_checkpoint}
max_seconds=${MAX_SECONDS:-420}

published=(
  --config synthsaebench-16k --width 4096 --k 25 --batch-size 1024
  --lr 3e-4 --seeds 0 --models "$models" --workers "$workers"
  --eval-samples 102400
)

case "$mode" in
  quick)
    out=benchmarks/results/synth_sae_16k_quick_${KERAS_BACKEND}${TAG:+_$TAG}
    python -m benchmarks.synth_sae "${published[@]}" --samples 2000000 \
      --out "$out" "$@"
    ;;
  full)
    out=benchmarks/results/synth_sae_16k_full_${KERAS_BACKEND}${TAG:+_$TAG}
    python -m benchmarks.synth_sae "${published[@]}" --samples 200000000 \
      --max-seconds "$max_seconds" --checkpoint "$checkpoint/full${TAG:+_$TAG}" \
      --out "$out" "$@"
    ;;
  smoke)
    # The `full` logic at a tiny size: two chunks, then the table.
    out=${SMOKE_OUT:-$checkpoint/smoke}
    tiny=(
      --config tiny --width 32 --k 4 --batch-size 256 --samples 4096
      --seeds 0 --models "$models" --eval-samples 512
      --generator-batches 2 --checkpoint "$checkpoint/smoke"
    )
    python -m benchmarks.synth_sae "${tiny[@]}" --max-seconds 0 \
      --out "$out" "$@"
    python -m benchmarks.synth_sae "${tiny[@]}" --out "$out" "$@"
    ;;
  *)
    echo "usage: $0 quick|full|smoke [synth_sae arguments]" >&2
    exit 2
    ;;
esac

if [ -f "$out.md" ] && [ -n "${OUT:-}" ]; then
  cp "$out.json" "$out.md" "$OUT"/
fi

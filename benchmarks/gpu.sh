#!/usr/bin/env bash
# Issue 8's GPU measurements in one run (about 6 minutes on one H100 with 16 cores): the data
# path against PIL, the training loop against pure compute for a CNN and a ViT, and k-NN
# against scikit-learn. Prints everything; with OUT set, also writes $OUT/benchmarks.txt.
#   bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python="${PYTHON:-python3}"
{
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
  "$python" benchmarks/data_pipeline.py --workers 8 --epochs 3
  "$python" benchmarks/finetune_loop.py --model resnet50 --images 1024 --workers 8
  "$python" benchmarks/finetune_loop.py --model deit_small_patch16_224 --images 1024 --workers 8
  "$python" benchmarks/knn_vs_sklearn.py
} 2>&1 | grep -v "prepare store" | tee "${OUT:-/tmp}/benchmarks.txt"

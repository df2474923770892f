#!/usr/bin/env bash
# The GPU measurements in one run (issue 8: about 4 minutes on one H200 with 16 cores): the data
# path against PIL, the training loop against pure compute for a CNN and a ViT (the store read
# in the training process, as the study's configs do, and by 8 loader processes), and k-NN
# against scikit-learn, DINO's epoch against its compute and its views against PIL (issue 17),
# and the segmentation loop against DeepLabV3's compute at 512 px for both encoders (issue 16).
# Prints everything; with OUT set, also writes $OUT/benchmarks.txt.
#   bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python="${PYTHON:-python3}"
{
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
  "$python" benchmarks/data_pipeline.py --workers 8 --epochs 3
  for workers in 0 8; do
    "$python" benchmarks/finetune_loop.py --model resnet50 --images 1024 --workers $workers
  done
  "$python" benchmarks/finetune_loop.py --model deit_small_patch16_224 --images 1024 --workers 0
  "$python" benchmarks/knn_vs_sklearn.py
  "$python" benchmarks/dino_loop.py --model vit_small_patch16_224 --store-size 256 --global-size 224 \
      --local-size 96 --local-crops 8 --images 1024 --pil-workers 8
  for model in resnet50 deit_small_patch16_224; do
    "$python" benchmarks/segment_loop.py --model $model --size 512 --images 256 --batch 16
  done
} 2>&1 | grep -v "prepare store" | tee "${OUT:-/tmp}/benchmarks.txt"

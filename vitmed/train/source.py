"""Source pretraining: the offline stand-in for ImageNet weights (``imagenet.source: synthetic``).

A model is trained supervised on the synthetic 16-class source set with the fine-tuning loop,
AdamW, linear warm-up and a fixed number of epochs (patience = epochs: no lr drop); its best
checkpoint becomes ``weights/<model>/imagenet.pt``, which init ``imagenet`` then loads through
the same resolver as any weights file (classifier head dropped).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

from vitmed.data.store import load_meta
from vitmed.jobs.io import atomic_path
from vitmed.models.factory import build_model
from vitmed.train.finetune import finetune


def pretrain_source(model_config: dict, data_dir: str | Path, run_dir: str | Path, weights_path: str | Path,
                    log_csv: str | Path, *, source: dict, finetune_hp: dict, input_size: int,
                    eval_crop: str = "center") -> dict:
    """Train on the source set in ``run_dir``; copy its best weights to ``weights_path`` and its
    log to ``log_csv``; return the result."""
    hp = dict(finetune_hp, max_epochs=source["epochs"], warmup_iters=source["warmup_iters"], patience=source["epochs"])
    torch.manual_seed(0)
    model = build_model(model_config, num_classes=len(load_meta(data_dir)["classes"]))
    result = finetune(model, data_dir, run_dir, seed=0, lr=source["lr"], optimizer="adamw", hp=hp,
                      input_size=input_size, eval_crop=eval_crop)
    run_dir = Path(run_dir)
    shutil.copy(run_dir / "log.csv", log_csv)
    with atomic_path(weights_path) as tmp:
        shutil.copy(run_dir / "best.pt", tmp)
    return dict(result, source="synthetic source_objects (16 classes)")

"""Segmentation training with the paper's fine-tuning procedure (its Table 2).

DeepLabV3 (vitmed.models.segmentation) trained with pixel-wise cross-entropy, Adam at the
pretrained learning rate, linear warm-up and the lr divided by 10 each time the validation IoU
saturates (``SaturationSchedule``); the checkpoint with the best validation IoU is scored on
the test split. Image and mask are augmented together on the training device
(``SegmentationAugment``). Runs on the resumable ``EpochLoop``, as fine-tuning does.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vitmed.data.augment import BatchEval, SegmentationAugment
from vitmed.data.dataset import StoreDataset, store_loader
from vitmed.data.store import load_meta
from vitmed.evaluate.segmentation import evaluate_segmentation
from vitmed.jobs.devices import select_device
from vitmed.jobs.speedups import Speedups
from vitmed.models.factory import count_parameters, describe_weights
from vitmed.models.segmentation import build_segmenter
from vitmed.train.finetune import keep_best, paper_procedure, restore_best
from vitmed.train.loop import finite_losses

log = logging.getLogger(__name__)


def segment_epoch(model: nn.Module, batches, augment: SegmentationAugment, opt: torch.optim.Optimizer,
                  current_lr, state: dict, speedups: Speedups = Speedups()) -> list[float]:
    """One pass over (uint8 image, mask) batches: joint augmentation on the model's device, one
    optimizer step of pixel cross-entropy per batch at ``current_lr()``. Returns the losses."""
    device = next(model.parameters()).device
    criterion = nn.CrossEntropyLoss()
    model.train()
    losses, first_iteration = [], state["iteration"]
    for images, masks in batches:
        for group in opt.param_groups:
            group["lr"] = current_lr()
        images, masks = augment(images.to(device, non_blocking=True), masks.to(device, non_blocking=True))
        with speedups.training_step(device):
            with speedups.autocast(device):
                loss = criterion(model(speedups.inputs(images))["out"].float(), masks)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        opt.step()
        losses.append(loss.detach())
        state["iteration"] += 1
    return finite_losses(losses, first_iteration, "segmentation")


def segment(model: nn.Module, data_dir: str | Path, run_dir: str | Path, *, seed: int, lr: float, hp: dict,
            input_size: int, elastic: dict | None = None) -> dict:
    """Train ``model`` on the segmentation store ``data_dir``; write ``log.csv``, ``best.pt``;
    return the test scores of the best-validation-IoU checkpoint."""
    device = select_device()
    model.to(device)
    speedups = Speedups.from_config(hp)
    forward = speedups.prepare(model)
    meta = load_meta(data_dir)
    if meta["task"] != "segmentation":
        raise ValueError(f"{data_dir}/meta.json: task {meta['task']!r}; segmentation needs a store with masks")
    augment = SegmentationAugment(input_size, hp["augment"], elastic)
    evaluate = BatchEval(meta["image_size"], "resize")  # the whole stored image: normalization only
    val_loader = store_loader(StoreDataset(data_dir, "val"), hp["eval_batch_size"])
    test_loader = store_loader(StoreDataset(data_dir, "test"), hp["eval_batch_size"])
    opt, schedule, loop, loader = paper_procedure(model, data_dir, run_dir, seed=seed, lr=lr,
                                                  optimizer=hp["optimizer"], hp=hp, device=device)
    state = loop.state
    for epoch, batches in loop.epochs(loader, until=lambda: schedule.finished):
        losses = segment_epoch(forward, batches, augment, opt, lambda: schedule.lr(state["iteration"]), state,
                               speedups)
        val = evaluate_segmentation(forward, val_loader, evaluate, speedups)
        lr_used = opt.param_groups[0]["lr"]
        # a validation split without foreground in mask or prediction has no IoU: not a new best
        keep_best(model, loop, epoch, schedule.update(val["iou"] if math.isfinite(val["iou"]) else -math.inf))
        loop.log_row({"lr": lr_used, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                      **{f"val_{name}": value for name, value in val.items()}})
        log.info("epoch %d loss %.4f val IoU %.4f lr %.2e", epoch, loop.rows[-1]["train_loss"], val["iou"], lr_used)

    restore_best(model, loop)
    test = evaluate_segmentation(forward, test_loader, evaluate, speedups)
    loop.finish()
    return {"metric": "iou", "value": test["iou"], "mean_iou": test["mean_iou"], "dice": test["dice"],
            "val_best": schedule.best, "best_epoch": state["best_epoch"], "epochs": state["epoch"],
            "iterations": state["iteration"], "stopped_by": "saturation" if schedule.finished else "max_epochs"}


def segment_run(model_config: dict, weights: str | None, data_dir: str | Path, run_dir: str | Path, *, seed: int,
                hp: dict, input_size: int, output_stride: int = 8, elastic: dict | None = None) -> dict:
    """One run of Table 2: DeepLabV3 on the model's encoder from ``weights`` (the head's init
    depends on ``seed``), the pretrained (or random) learning rate, trained and tested."""
    torch.manual_seed(seed)
    meta = load_meta(data_dir)
    model = build_segmenter(model_config, len(meta["classes"]), weights, input_size=input_size,
                            output_stride=output_stride)
    lr = hp["lr"]["pretrained" if weights is not None else "random"]
    result = segment(model, data_dir, run_dir, seed=seed, lr=lr, hp=hp, input_size=input_size, elastic=elastic)
    return dict(result, weights=describe_weights(weights), n_parameters=count_parameters(model), lr=lr,
                weight_decay=hp["weight_decay"])

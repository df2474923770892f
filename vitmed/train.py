"""Supervised fine-tuning with the paper's procedure.

Adam (AdamW for randomly initialized ViTs), linear warm-up, and the learning rate divided by
10 each time the validation metric saturates until it reaches its final value; one more
saturation there ends training. The checkpoint with the best validation metric is scored on
the test split. The job checkpoints at every epoch and resumes from it when rerun; the
random state of every epoch is derived from (seed, epoch), so a resumed run retraces the
uninterrupted one exactly.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from vitmed.augment import BatchEval, make_augment
from vitmed.data.dataset import StoreDataset, store_loader
from vitmed.data.store import load_meta
from vitmed.devices import select_device
from vitmed.io import atomic_path, write_rows_csv
from vitmed.metrics import score
from vitmed.runtime import epoch_generator, finite_losses
from vitmed.speedups import Speedups

log = logging.getLogger(__name__)


@dataclass
class SaturationSchedule:
    """Warm-up, then drop the lr by ``factor`` after ``patience`` epochs without a new best
    validation metric; ``finished`` once it saturates at ``min_lr``."""
    base_lr: float
    warmup_iters: int
    factor: float
    min_lr: float
    patience: int
    level: float = field(init=False)
    best: float = field(init=False, default=-math.inf)
    epochs_since_best: int = field(init=False, default=0)
    finished: bool = field(init=False, default=False)

    def __post_init__(self):
        self.level = self.base_lr

    def lr(self, iteration: int) -> float:
        warm = min(1.0, (iteration + 1) / self.warmup_iters) if self.warmup_iters > 0 else 1.0
        return self.level * warm

    def update(self, metric: float) -> bool:
        """Record an epoch's validation metric; return True if it is a new best."""
        if metric > self.best:
            self.best, self.epochs_since_best = metric, 0
            return True
        self.epochs_since_best += 1
        if self.epochs_since_best > self.patience:
            if self.level <= self.min_lr * (1 + 1e-9):
                self.finished = True
            else:
                self.level = max(self.level / self.factor, self.min_lr)
                self.epochs_since_best = 0
        return False


class MaskedBCEWithLogits(nn.Module):
    """Binary cross-entropy averaged over the known entries: an ignored label (-1) adds no loss."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        known = (targets >= 0).to(logits.dtype)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, targets.clamp(min=0).to(logits.dtype),
                                                              weight=known, reduction="sum")
        return loss / known.sum().clamp(min=1)


def loss_function(task: str) -> nn.Module:
    return MaskedBCEWithLogits() if task == "multilabel" else nn.CrossEntropyLoss()


def to_scores(logits: torch.Tensor, task: str) -> torch.Tensor:
    return logits.sigmoid() if task == "multilabel" else logits.softmax(dim=1)


@torch.no_grad()
def predict(model: nn.Module, loader, transform: nn.Module, task: str,
            speedups: Speedups = Speedups()) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    device = next(model.parameters()).device
    scores, labels = [], []
    for images, y in loader:
        with speedups.autocast(device):
            logits = model(speedups.inputs(transform(images.to(device, non_blocking=True))))
        scores.append(to_scores(logits.float(), task))  # stays on the device: no wait per batch
        labels.append(y)
    return torch.cat(scores).cpu().numpy(), torch.cat(labels).numpy()


def train_epoch(model: nn.Module, batches, augment: nn.Module, criterion: nn.Module,
                opt: torch.optim.Optimizer, current_lr, state: dict,
                speedups: Speedups = Speedups()) -> list[float]:
    """One pass over ``batches`` of uint8 images: augment on the model's device, one optimizer
    step per batch at ``current_lr()``; counts ``state["iteration"]``. Returns the losses."""
    device = next(model.parameters()).device
    model.train()
    losses, first_iteration = [], state["iteration"]
    for images, labels in batches:
        for group in opt.param_groups:
            group["lr"] = current_lr()
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with speedups.training_step(device):
            with speedups.autocast(device):
                loss = criterion(model(speedups.inputs(augment(images))), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        opt.step()
        losses.append(loss.detach())
        state["iteration"] += 1
    return finite_losses(losses, first_iteration, "fine-tuning")


def make_optimizer(name: str, params, weight_decay: float, momentum: float = 0.9) -> torch.optim.Optimizer:
    """The optimizer at learning rate 0 (the schedule sets it every step); ``momentum`` is SGD's."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.0, momentum=momentum, weight_decay=weight_decay)
    optimizers = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    return optimizers[name](params, lr=0.0, weight_decay=weight_decay)


def run_hparams(finetune: dict, override: dict) -> dict:
    """The fine-tuning settings of one run: the study's ``finetune`` section, with the learning
    rate and weight decay that its entry of ``finetune.overrides`` sets, if any (a per-model
    search's results, e.g. Piater et al.'s Table 5), for any init."""
    hp = dict(finetune)
    if "lr" in override:
        hp["lr"] = {"pretrained": override["lr"], "random": override["lr"]}
    if "weight_decay" in override:
        hp["weight_decay"] = override["weight_decay"]
    return hp


def finetune(model: nn.Module, data_dir: str | Path, run_dir: str | Path, *, seed: int, lr: float,
             optimizer: str, hp: dict, input_size: int) -> dict:
    """Train ``model`` on ``data_dir``; write ``log.csv``, ``best.pt``; return the result."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = select_device()
    model.to(device)
    speedups = Speedups.from_config(hp)
    forward = speedups.prepare(model)  # model (its weights are saved) or its compiled wrapper
    meta = load_meta(data_dir)
    task, metric = meta["task"], meta["metric"]
    train_set = StoreDataset(data_dir, "train")
    augment, evaluate = make_augment(input_size, hp["augment"]), BatchEval(input_size)
    val_loader = store_loader(StoreDataset(data_dir, "val"), hp["eval_batch_size"])
    test_loader = store_loader(StoreDataset(data_dir, "test"), hp["eval_batch_size"])
    criterion = loss_function(task)
    opt = make_optimizer(optimizer, model.parameters(), hp["weight_decay"], hp.get("momentum", 0.9))
    schedule = SaturationSchedule(lr, hp["warmup_iters"], hp["lr_drop_factor"], hp["min_lr"],
                                  hp["patience"])
    state = {"epoch": 0, "iteration": 0, "rows": [], "best_state": None, "best_epoch": -1}

    checkpoint = run_dir / "checkpoint.pt"
    if checkpoint.exists():  # resume a killed or preempted job
        saved = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        for key, value in saved["schedule"].items():
            setattr(schedule, key, value)
        state = saved["state"]
        log.info("resumed from %s at epoch %d", checkpoint, state["epoch"])

    loader = store_loader(train_set, hp["batch_size"], shuffle=True, drop_last=True, num_workers=hp["num_workers"])
    while state["epoch"] < hp["max_epochs"] and not schedule.finished:
        epoch = state["epoch"]
        started = time.perf_counter()
        loader.sampler.generator = epoch_generator(seed, epoch)
        batches = tqdm(loader, desc=f"epoch {epoch}", leave=False, mininterval=2)
        losses = train_epoch(forward, batches, augment, criterion, opt,
                             lambda: schedule.lr(state["iteration"]), state, speedups)
        val_scores, val_labels = predict(forward, val_loader, evaluate, task, speedups)
        val_metric = score(metric, val_labels, val_scores)
        lr_used = opt.param_groups[0]["lr"]
        if schedule.update(val_metric):
            state["best_state"] = copy.deepcopy(model.state_dict())
            state["best_epoch"] = epoch
        state["rows"].append({"epoch": epoch, "iterations": state["iteration"], "lr": lr_used,
                              "train_loss": float(np.mean(losses)) if losses else float("nan"),
                              f"val_{metric}": val_metric,
                              "seconds": round(time.perf_counter() - started, 3)})
        log.info("epoch %d loss %.4f val %s %.4f lr %.2e", epoch, state["rows"][-1]["train_loss"],
                 metric, val_metric, lr_used)
        state["epoch"] += 1
        with atomic_path(checkpoint) as tmp:
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                        "schedule": {k: v for k, v in asdict(schedule).items()},
                        "state": state}, tmp)

    write_rows_csv(run_dir / "log.csv", state["rows"])
    model.load_state_dict(state["best_state"])
    with atomic_path(run_dir / "best.pt") as tmp:
        torch.save(state["best_state"], tmp)
    test_scores, test_labels = predict(forward, test_loader, evaluate, task, speedups)
    checkpoint.unlink()  # the job's outputs are complete; the next run starts afresh
    return {"metric": metric, "value": score(metric, test_labels, test_scores),
            "val_best": schedule.best, "best_epoch": state["best_epoch"],
            "epochs": state["epoch"], "iterations": state["iteration"],
            "stopped_by": "saturation" if schedule.finished else "max_epochs"}

"""Supervised fine-tuning with the paper's procedure.

Adam (AdamW for randomly initialized ViTs) with the paper's learning rates per init, linear
warm-up, and the learning rate divided by 10 each time the validation metric saturates until
it reaches its final value; one more saturation there ends training (``SaturationSchedule``).
The checkpoint with the best validation metric is scored on the test split. Runs on the
resumable ``EpochLoop``: a killed job resumes at its last epoch and retraces the uninterrupted
run exactly.
"""
from __future__ import annotations

import copy
import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vitmed.data.augment import BatchEval, make_augment
from vitmed.data.dataset import StoreDataset, store_loader
from vitmed.data.store import load_meta
from vitmed.evaluate.metrics import score
from vitmed.evaluate.predict import predict
from vitmed.jobs.devices import select_device
from vitmed.jobs.io import save_torch
from vitmed.jobs.speedups import Speedups
from vitmed.models.factory import build_model, count_parameters, describe_weights
from vitmed.train.loop import EpochLoop, finite_losses
from vitmed.train.losses import loss_function
from vitmed.train.schedule import SaturationSchedule

log = logging.getLogger(__name__)


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


def initial_lr_and_optimizer(hp: dict, model_config: dict, pretrained: bool) -> tuple[float, str]:
    """The paper's choice per run: the ``pretrained`` or ``random`` learning rate by whether the
    run starts from weights; from random init the model's own ``optimizer_random`` where it has
    one (the footnote's AdamW is DeiT's: the paper's Swin-T says Adam), else AdamW
    (``optimizer_random_vit``) for a ViT, ``optimizer`` (Adam) for a CNN; ``optimizer`` from weights."""
    lr = hp["lr"]["pretrained" if pretrained else "random"]
    if pretrained:
        return lr, hp["optimizer"]
    if model_config.get("optimizer_random"):
        return lr, model_config["optimizer_random"]
    return lr, hp["optimizer_random_vit" if model_config["family"] == "vit" else "optimizer"]


def paper_procedure(model: nn.Module, data_dir: str | Path, run_dir: str | Path, *, seed: int, lr: float,
                    optimizer: str, hp: dict, device: torch.device):
    """The paper's procedure around a model, for fine-tuning and segmentation alike: the optimizer,
    the warm-up / saturation schedule, the resumable loop (restored from an interrupted run's
    checkpoint, keeping the best weights so far) and the shuffled training loader."""
    opt = make_optimizer(optimizer, model.parameters(), hp["weight_decay"], hp.get("momentum", 0.9))
    schedule = SaturationSchedule(lr, hp["warmup_iters"], hp["lr_drop_factor"], hp["min_lr"], hp["patience"])
    loop = EpochLoop(run_dir, seed=seed, max_epochs=hp["max_epochs"],
                     stateful={"model": model, "optimizer": opt, "schedule": schedule},
                     best_state=None, best_epoch=-1, best_iteration=-1)
    loop.restore(device)
    loader = store_loader(StoreDataset(data_dir, "train"), hp["batch_size"], shuffle=True, drop_last=True,
                          num_workers=hp["num_workers"])
    return opt, schedule, loop, loader


def keep_best(model: nn.Module, loop: EpochLoop, epoch: int, is_best: bool) -> None:
    """Remember the weights of a new best validation epoch (the first epoch's, whatever its score)."""
    if is_best or loop.state["best_state"] is None:
        loop.state["best_state"] = copy.deepcopy(model.state_dict())
        loop.state["best_epoch"] = epoch
        loop.state["best_iteration"] = loop.state["iteration"]  # optimizer steps to it (Palés Huix et al.'s Figure 3)


def restore_best(model: nn.Module, loop: EpochLoop) -> None:
    """Load the best validation epoch's weights into ``model`` and write them to ``best.pt``."""
    model.load_state_dict(loop.state["best_state"])
    save_torch(loop.state["best_state"], loop.run_dir / "best.pt")


def finetune(model: nn.Module, data_dir: str | Path, run_dir: str | Path, *, seed: int, lr: float,
             optimizer: str, hp: dict, input_size: int, eval_crop: str = "center") -> dict:
    """Train ``model`` on ``data_dir``; write ``log.csv``, ``best.pt``; return the result."""
    device = select_device()
    model.to(device)
    speedups = Speedups.from_config(hp)
    forward = speedups.prepare(model)  # model (its weights are saved) or its compiled wrapper
    meta = load_meta(data_dir)
    task, metric = meta["task"], meta["metric"]
    augment, evaluate = make_augment(input_size, hp["augment"]), BatchEval(input_size, eval_crop)
    val_loader = store_loader(StoreDataset(data_dir, "val"), hp["eval_batch_size"])
    test_loader = store_loader(StoreDataset(data_dir, "test"), hp["eval_batch_size"])
    criterion = loss_function(task)
    opt, schedule, loop, loader = paper_procedure(model, data_dir, run_dir, seed=seed, lr=lr, optimizer=optimizer,
                                                  hp=hp, device=device)
    state = loop.state
    for epoch, batches in loop.epochs(loader, until=lambda: schedule.finished):
        losses = train_epoch(forward, batches, augment, criterion, opt, lambda: schedule.lr(state["iteration"]),
                             state, speedups)
        val_scores, val_labels = predict(forward, val_loader, evaluate, task, speedups)
        val_metric = score(metric, val_labels, val_scores)
        lr_used = opt.param_groups[0]["lr"]
        keep_best(model, loop, epoch, schedule.update(val_metric))
        loop.log_row({"lr": lr_used, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                      f"val_{metric}": val_metric})
        log.info("epoch %d loss %.4f val %s %.4f lr %.2e", epoch, loop.rows[-1]["train_loss"], metric, val_metric,
                 lr_used)

    restore_best(model, loop)
    started = time.perf_counter()
    test_scores, test_labels = predict(forward, test_loader, evaluate, task, speedups)  # on the host: synchronized
    seconds_per_image = (time.perf_counter() - started) / max(len(test_labels), 1)
    loop.finish()
    return {"metric": metric, "value": score(metric, test_labels, test_scores),
            "val_best": schedule.best, "best_epoch": state["best_epoch"],
            # None for a run resumed from a checkpoint older than this record: the times table names it
            "best_iteration": state.get("best_iteration"), "seconds_per_image": seconds_per_image,
            "epochs": state["epoch"], "iterations": state["iteration"],
            "stopped_by": "saturation" if schedule.finished else "max_epochs"}


def finetune_run(model_config: dict, weights: str | None, data_dir: str | Path, run_dir: str | Path, *,
                 seed: int, hp: dict, input_size: int, eval_crop: str = "center") -> dict:
    """One run of the fine-tuning table: the model built from its init (the random init and the
    new classifier head depend on ``seed``), the paper's lr and optimizer for it, trained; returns
    the result with the run's lr, weight decay, weights and parameter count."""
    torch.manual_seed(seed)
    model = build_model(model_config, len(load_meta(data_dir)["classes"]), weights)
    lr, optimizer = initial_lr_and_optimizer(hp, model_config, pretrained=weights is not None)
    result = finetune(model, data_dir, run_dir, seed=seed, lr=lr, optimizer=optimizer, hp=hp, input_size=input_size,
                      eval_crop=eval_crop)
    return dict(result, weights=describe_weights(weights), n_parameters=count_parameters(model),
                lr=lr, weight_decay=hp["weight_decay"])

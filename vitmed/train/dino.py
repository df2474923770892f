"""DINO self-supervised pretraining (Caron et al. 2021) on a target dataset's training images.

The paper starts from ImageNet weights and trains DINO with its default settings except
three changes for medical data, which are this config's defaults: base lr 1e-4, weight decay
cosine from 1e-5 to 1e-4, teacher EMA momentum 0.99 (cosine to 1). The same recipe serves
CNNs and ViTs. lightly supplies the tested parts: the projection head (hidden 2048,
bottleneck 256, weight-normalized last layer), the loss with centering and sharpening, the
EMA update and the cosine schedules. Augmented multi-crop views come from vitmed.data.augment.

One optimizer step per iteration (the authors' trainer stepped twice). Runs on the resumable
``EpochLoop`` (student, teacher, optimizer and centre checkpointed every epoch); schedules are
functions of the iteration, so a resumed run ends with the same weights as an uninterrupted one.
"""
from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import torch
from lightly.loss import DINOLoss
from lightly.models.modules import DINOProjectionHead
from lightly.models.utils import update_momentum
from lightly.utils.scheduler import cosine_schedule, cosine_warmup_schedule
from torch import nn

from vitmed.data.augment import make_augment
from vitmed.data.dataset import StoreDataset, store_loader
from vitmed.jobs.devices import select_device
from vitmed.jobs.io import save_torch
from vitmed.jobs.speedups import Speedups
from vitmed.models.factory import build_model, embed
from vitmed.train.loop import EpochLoop, finite_losses

log = logging.getLogger(__name__)


class DinoNetwork(nn.Module):
    """Backbone (timm, no classifier) + DINO projection head."""

    def __init__(self, backbone: nn.Module, cfg: dict):
        super().__init__()
        self.backbone = backbone
        # no batch norm in the head: DINO's default (use_bn_in_head=False) for ViTs and ResNets
        self.head = DINOProjectionHead(backbone.num_features, cfg["head_hidden_dim"], cfg["head_bottleneck_dim"],
                                       cfg["out_dim"], batch_norm=False,
                                       freeze_last_layer=cfg["freeze_last_layer"])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(embed(self.backbone, images))


class DinoSchedule:
    """Per-iteration lr, weight decay and momentum; per-epoch teacher temperature."""

    def __init__(self, cfg: dict, iters_per_epoch: int):
        self.cfg = cfg
        self.total = cfg["epochs"] * iters_per_epoch
        self.warmup = min(cfg["warmup_epochs"] * iters_per_epoch, self.total)
        self.peak_lr = cfg["base_lr"] * cfg["batch_size"] / 256  # DINO's linear scaling rule

    def lr(self, it: int) -> float:
        return cosine_warmup_schedule(it, self.total, self.peak_lr, self.cfg["min_lr"], self.warmup, 0.0)

    def weight_decay(self, it: int) -> float:
        return cosine_schedule(it, self.total, *self.cfg["weight_decay"])

    def momentum(self, it: int) -> float:
        return cosine_schedule(it, self.total, *self.cfg["momentum"])

    def teacher_temp(self, epoch: int) -> float:
        start, end = self.cfg["teacher_temp"]
        warm = self.cfg["teacher_temp_warmup_epochs"]
        return end if epoch >= warm else start + (end - start) * epoch / warm


def param_groups(model: nn.Module) -> list[dict]:
    """DINO does not decay biases and normalization parameters."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if name.endswith(".bias") or param.ndim == 1 else decay).append(param)
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


class MultiCropViews:
    """DINO's views of a batch (``DataAugmentationDINO``): two global crops, the first always
    blurred, the second rarely blurred and sometimes solarized, then ``local_crops.number`` local
    crops, half of them blurred; all with flips, colour jitter and random grayscale, augmented on
    the batch's device (vitmed.data.augment)."""

    def __init__(self, cfg: dict):
        crops, global_crops, local_crops = cfg["augment"], cfg["global_crops"], cfg["local_crops"]
        self.global_views = [
            make_augment(global_crops["size"], dict(crops, crop_scale=global_crops["scale"], blur_p=blur,
                                                    solarize_p=solarize))
            for blur, solarize in zip(global_crops["blur_p"], global_crops["solarize_p"])
        ]
        self.local_view = make_augment(local_crops["size"], dict(crops, crop_scale=local_crops["scale"],
                                                                 blur_p=local_crops["blur_p"]))
        self.n_local = local_crops["number"]

    def __call__(self, images: torch.Tensor) -> list[torch.Tensor]:
        images = images.to(torch.float32, memory_format=torch.contiguous_format)  # once, not once per view
        return [view(images) for view in self.global_views] + [self.local_view(images) for _ in range(self.n_local)]


class DinoStep:
    """One DINO optimizer step on a batch's views: teacher on the global views, student on all,
    the loss with centring and sharpening, clipped gradients, the last layer frozen in the first
    epoch, then the teacher's EMA update. Returns the loss (on the device: read once per epoch)."""

    def __init__(self, student: DinoNetwork, teacher: DinoNetwork, criterion: DINOLoss,
                 optimizer: torch.optim.Optimizer, speedups: Speedups, clip_grad: float):
        self.student, self.teacher, self.criterion, self.optimizer = student, teacher, criterion, optimizer
        self.student_forward, self.teacher_forward = speedups.prepare(student), speedups.prepare(teacher)
        self.speedups, self.clip_grad = speedups, clip_grad

    def __call__(self, crops: list[torch.Tensor], teacher_temp: float, epoch: int, momentum: float) -> torch.Tensor:
        device = crops[0].device
        with self.speedups.training_step(device):
            with self.speedups.autocast(device):
                with torch.no_grad():
                    teacher_out = [self.teacher_forward(crop).float() for crop in crops[:2]]  # global views only
                student_out = [self.student_forward(crop).float() for crop in crops]
            loss = self.criterion(teacher_out, student_out, teacher_temp=teacher_temp)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        if self.clip_grad > 0:
            nn.utils.clip_grad_norm_(self.student.parameters(), self.clip_grad)
        self.student.head.cancel_last_layer_gradients(epoch)
        self.optimizer.step()
        update_momentum(self.student, self.teacher, momentum)
        return loss.detach()


def dino_backbones(model_config: dict, weights: str | None, drop_path: float) -> tuple[nn.Module, nn.Module]:
    """Student and teacher backbones from the same weights: a ViT student with stochastic depth
    ``drop_path`` (DINO's 0.1), the teacher without (CNNs: neither, as in DINO)."""
    student_config = model_config
    if model_config["family"] == "vit" and drop_path > 0:
        student_config = dict(model_config, kwargs={**model_config.get("kwargs", {}), "drop_path_rate": drop_path})
    student = build_model(student_config, num_classes=0, weights=weights)
    teacher = build_model(model_config, num_classes=0, weights=weights)
    teacher.load_state_dict(student.state_dict())  # the same start, whatever initialized them
    return student, teacher


def pretrain_dino(backbone: nn.Module, data_dir: str | Path, run_dir: str | Path, weights_path: str | Path,
                  cfg: dict, *, seed: int, teacher_backbone: nn.Module | None = None) -> list[dict]:
    """Train DINO from ``backbone`` (the student's; the teacher's is ``teacher_backbone`` or a
    copy); write the teacher backbone's state dict to ``weights_path`` and the per-epoch log to
    ``run_dir/log.csv``; return the log rows."""
    torch.manual_seed(seed)
    teacher_backbone = copy.deepcopy(backbone) if teacher_backbone is None else teacher_backbone
    student = DinoNetwork(backbone, cfg)
    # built, not deep-copied: the head's weight norm cannot be deep-copied
    teacher = DinoNetwork(teacher_backbone, cfg).requires_grad_(False)
    teacher.load_state_dict(student.state_dict())
    device = select_device()
    student.to(device)
    teacher.to(device)
    # bf16, channels-last and torch.compile as in fine-tuning; compiled, each network holds one
    # graph per crop size (global and local), so the multi-crop views cost two compilations
    speedups = Speedups(cfg["precision"], cfg["channels_last"], cfg["compile"])
    criterion = DINOLoss(cfg["out_dim"], student_temp=cfg["student_temp"],
                         center_momentum=cfg["center_momentum"]).to(device)
    optimizer = torch.optim.AdamW(param_groups(student), lr=0.0)
    dataset = StoreDataset(data_dir, "train")
    iters_per_epoch = len(dataset) // cfg["batch_size"]
    if iters_per_epoch == 0:
        raise ValueError(f"{data_dir}: {len(dataset)} training images < dino.batch_size {cfg['batch_size']}")
    schedule = DinoSchedule(cfg, iters_per_epoch)
    views = MultiCropViews(cfg)
    loop = EpochLoop(run_dir, seed=seed, max_epochs=cfg["epochs"], desc="dino epoch",
                     stateful={"student": student, "teacher": teacher, "optimizer": optimizer,
                               "criterion": criterion})
    loop.restore(device)

    step = DinoStep(student, teacher, criterion, optimizer, speedups, cfg["clip_grad"])
    loader = store_loader(dataset, cfg["batch_size"], shuffle=True, drop_last=True, num_workers=cfg["num_workers"])
    for epoch, batches in loop.epochs(loader):
        student.train()
        teacher.train()
        losses, first_iteration = [], loop.state["iteration"]
        temp = schedule.teacher_temp(epoch)
        for images, _ in batches:
            it = loop.state["iteration"]
            optimizer.param_groups[0]["weight_decay"] = schedule.weight_decay(it)
            for group in optimizer.param_groups:
                group["lr"] = schedule.lr(it)
            crops = [speedups.inputs(view) for view in views(images.to(device, non_blocking=True))]
            losses.append(step(crops, temp, epoch, schedule.momentum(it)))
            loop.state["iteration"] += 1
        losses = finite_losses(losses, first_iteration, f"DINO epoch {epoch},")
        last = loop.state["iteration"] - 1
        loop.log_row({"loss": float(np.mean(losses)), "lr": schedule.lr(last),
                      "weight_decay": schedule.weight_decay(last), "momentum": schedule.momentum(last),
                      "teacher_temp": temp})
        log.info("dino epoch %d loss %.4f", epoch, loop.rows[-1]["loss"])

    save_torch(teacher.backbone.state_dict(), weights_path)
    return loop.finish()

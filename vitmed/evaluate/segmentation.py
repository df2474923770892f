"""Segmentation scores: the authors' IoU, accumulated over every pixel of a split.

The ViT paper's Table 2 reports IoU; the authors' segmentation code (CSAW-S) computes it from a
confusion matrix summed over all pixels of the whole validation or test set, for the foreground
class only: TP / (TP + FP + FN). Beside it this records the per-image mean IoU and mean Dice,
common in other papers. An image whose mask and prediction are both empty scores 1 on both
(a correct "nothing here"); the dataset-level IoU of a split without any foreground pixel in
mask or prediction is undefined (NaN), not 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from vitmed.data.augment import BatchEval
from vitmed.jobs.speedups import Speedups


@dataclass
class SegmentationScores:
    """Running sums over batches of predicted and true masks (class indices, foreground 1)."""
    foreground: int = 1
    tp: int = 0
    fp: int = 0
    fn: int = 0
    image_iou: list[float] = field(default_factory=list)
    image_dice: list[float] = field(default_factory=list)

    def update(self, predicted: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch of (B, H, W) predicted and true class-index masks."""
        p = (predicted == self.foreground).flatten(1)
        t = (target == self.foreground).flatten(1)
        tp, fp, fn = (p & t).sum(1), (p & ~t).sum(1), (~p & t).sum(1)
        self.tp, self.fp, self.fn = self.tp + int(tp.sum()), self.fp + int(fp.sum()), self.fn + int(fn.sum())
        union, total = (tp + fp + fn).double(), (2 * tp + fp + fn).double()
        empty = union == 0  # nothing predicted, nothing there: right
        self.image_iou += torch.where(empty, 1.0, tp / union.clamp(min=1)).tolist()
        self.image_dice += torch.where(empty, 1.0, 2 * tp / total.clamp(min=1)).tolist()

    def result(self) -> dict[str, float]:
        union = self.tp + self.fp + self.fn
        return {"iou": self.tp / union if union else float("nan"),
                "mean_iou": float(np.mean(self.image_iou)) if self.image_iou else float("nan"),
                "dice": float(np.mean(self.image_dice)) if self.image_dice else float("nan")}


def iou(predicted: np.ndarray, target: np.ndarray, foreground: int = 1) -> float:
    """Dataset-level IoU of the foreground class over all pixels of ``predicted`` and ``target``."""
    scores = SegmentationScores(foreground)
    scores.update(*(torch.as_tensor(np.asarray(mask)).reshape(1, -1) for mask in (predicted, target)))
    return scores.result()["iou"]


@torch.no_grad()
def evaluate_segmentation(model: torch.nn.Module, loader, transform: torch.nn.Module,
                          speedups: Speedups = Speedups()) -> dict[str, float]:
    """IoU, per-image mean IoU and Dice of ``model`` on a loader of (uint8 images, masks)."""
    model.eval()
    device = next(model.parameters()).device
    scores = SegmentationScores()
    for images, masks in loader:
        with speedups.autocast(device):
            logits = model(speedups.inputs(transform(images.to(device, non_blocking=True))))["out"]
        scores.update(logits.argmax(1).cpu(), masks)
    return scores.result()



def example_positions(dataset, n: int) -> list[int]:
    """Figure 2's images of a split (a segmentation ``StoreDataset``): the first ``n`` whose
    mask holds foreground, then empty ones if there are too few."""
    has = [bool(dataset.labels[row].any()) for row in dataset.rows]
    order = [i for i, h in enumerate(has) if h] + [i for i, h in enumerate(has) if not h]
    return order[:n]


@torch.no_grad()
def segmentation_examples(dataset, models: dict[str, torch.nn.Module], transform: torch.nn.Module,
                          n: int) -> dict[str, np.ndarray]:
    """``images`` (n, H, W, C) uint8 as stored, ``truth`` and each model's predicted masks (n, H, W)."""
    positions = example_positions(dataset, n)
    images, truth = dataset[positions]
    examples = {"images": dataset.images[dataset.rows[positions]].numpy(), "truth": truth.numpy()}
    for name, model in models.items():
        examples[name] = model.eval()(transform(images))["out"].argmax(1).numpy().astype(np.uint8)
    return examples


@torch.no_grad()
def predict_masks(segmenter: torch.nn.Module, images: np.ndarray, input_size: int,
                  batch_size: int = 64) -> np.ndarray:
    """(N, H, W) uint8 masks (1 = the foreground class) of (N, H, W, C) uint8 images, e.g. a store's
    memory map: the segmenter sees each image resized to its input size (on its own device), its
    logits are resized back (the feature-usage analysis's lesion masks)."""
    segmenter.eval()
    device = next((p.device for p in segmenter.parameters()), torch.device("cpu"))
    transform = BatchEval(input_size, "resize")
    masks = np.empty(images.shape[:3], np.uint8)
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.array(images[start:start + batch_size]))  # a copy: the map is read-only
        batch = batch.permute(0, 3, 1, 2).to(device)
        if batch.shape[1] == 1:
            batch = batch.expand(-1, 3, -1, -1)
        logits = segmenter(transform(batch))["out"]
        logits = F.interpolate(logits, size=images.shape[1:3], mode="bilinear", align_corners=False)
        masks[start:start + batch_size] = (logits.argmax(1) == 1).cpu().numpy()
    return masks

"""Piater et al.'s Table 4: where the fine-tuned models look, CNNs with and without
self-attention beside the ViTs.

Per model: Grad-CAM of the predicted class (CNNs, every variant), each global-attention (GA)
block's attention map (the attention averaged over query positions: how much each position is
attended to, as Wang et al. visualize their non-local blocks) and the ViT's last-layer CLS
attention averaged over heads. Shown for one test image per class and as the mean over
``n_mean`` test images; every map is min-max normalized per image, the mean is taken over those
and normalized again, and stored as 0-255 (uint8) as in their table.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vitmed.analysis.saliency import cls_attention, grad_cam
from vitmed.data.augment import BatchEval
from vitmed.data.dataset import StoreDataset
from vitmed.models.self_attention import PREFIX

log = logging.getLogger(__name__)


def normalized(maps: np.ndarray) -> np.ndarray:
    """(B, H, W) maps scaled to [0, 1] each (a constant map is all 0)."""
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.divide(maps - low, span, out=np.zeros_like(maps, dtype=np.float64), where=span > 0)


@torch.no_grad()
def global_attention_maps(model: nn.Module, images: torch.Tensor) -> dict[str, np.ndarray]:
    """Each GA block's (B, H, W) map at the input size: its attention weights (queries x keys)
    averaged over the queries, upsampled bilinearly from the block's feature map."""
    blocks = getattr(model, PREFIX, None)
    if blocks is None:
        return {}
    captured = {}

    def keep(name):
        def hook(block, inputs, _output):
            x = inputs[0]
            attended = block.attention(x).mean(dim=1)  # (B, HW): mean over query positions
            captured[name] = attended.view(len(x), 1, *x.shape[-2:])
        return hook

    hooks = [block.register_forward_hook(keep(name)) for name, block in blocks.items()]
    try:
        model.eval()(images)
    finally:
        for hook in hooks:
            hook.remove()
    return {f"GA after {name.replace('_', '.')}": F.interpolate(maps.float(), size=images.shape[-2:],
                                                                mode="bilinear", align_corners=False)[:, 0].numpy()
            for name, maps in captured.items()}


def model_maps(model: nn.Module, family: str, inputs: torch.Tensor, cnn_stage: int) -> dict[str, np.ndarray]:
    """Every map of one model for a batch, each normalized per image: a CNN's Grad-CAM and GA
    maps, a ViT's CLS attention."""
    if family == "vit":
        attention, _ = cls_attention(model, inputs)
        maps = {"CLS attention": attention.mean(axis=1)}
    else:
        maps = {"Grad-CAM": grad_cam(model, inputs, cnn_stage), **global_attention_maps(model, inputs)}
    return {kind: normalized(np.asarray(values, dtype=np.float64)) for kind, values in maps.items()}


def example_rows(labels: np.ndarray, n_classes: int) -> list[int]:
    """The first test image of each class present (single-label tasks)."""
    if labels.ndim != 1:
        raise ValueError("attention maps pick one test image per class: single-label tasks only")
    return [int(np.flatnonzero(labels == k)[0]) for k in range(n_classes) if (labels == k).any()]


def attention_map_arrays(data_dir: str | Path, models: dict[str, tuple[str, nn.Module]], classes: list[str], *,
                         n_mean: int, input_size: int, eval_crop: str, cnn_stage: int,
                         batch_size: int = 32) -> dict[str, np.ndarray]:
    """Table 4's arrays for one dataset: ``images`` (one test image per class, as shown),
    ``labels``, and ``maps`` (M, examples + 1, H, W) uint8 named by ``map_names`` ("<model>:
    <kind>"), the last column the mean over the first ``n_mean`` test images."""
    test = StoreDataset(Path(data_dir), "test")
    examples = example_rows(np.asarray(test.labels), len(classes))
    missing = len(classes) - len(examples)
    if missing:
        log.warning("%d of %d classes have no test image: no example for them", missing, len(classes))
    evaluate = BatchEval(input_size, eval_crop)
    shown_images, labels = test[examples]
    mean_rows = list(range(min(n_mean, len(test))))
    names, maps = [], []
    for model_name, (family, model) in models.items():
        example = model_maps(model, family, evaluate(shown_images), cnn_stage)
        sums = dict.fromkeys(example, 0.0)
        for start in range(0, len(mean_rows), batch_size):
            images, _ = test[mean_rows[start:start + batch_size]]
            for kind, values in model_maps(model, family, evaluate(images), cnn_stage).items():
                sums[kind] = sums[kind] + values.sum(axis=0)
        for kind, values in example.items():
            mean = normalized((sums[kind] / len(mean_rows))[None])
            names.append(f"{model_name}: {kind}")
            maps.append(np.round(np.concatenate([values, mean]) * 255).astype(np.uint8))
        log.info("%s: %s on %d examples and the mean of %d test images", model_name, ", ".join(example),
                 len(examples), len(mean_rows))
    shown = evaluate.geometry(shown_images).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return {"images": shown, "labels": labels.numpy(), "classes": np.array(classes), "n_mean": np.array(len(mean_rows)),
            "map_names": np.array(names), "maps": np.stack(maps)}

"""Saliency of fine-tuned models (the paper's Figure 4).

CNNs: Grad-CAM (Selvaraju et al. 2017) through the maintained ``grad-cam`` package, on a
feature stage of the timm model (the last by default), for the predicted class. ViTs: the last layer's
attention of the CLS token to the patches, per head, keeping the most attended patches that
together hold ``mass`` (50 %) of the attention, as in DINO's visualizations.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vitmed.analysis.attention_distance import capture_attention


def feature_stage(model: nn.Module, stage: int = -1) -> nn.Module:
    """The module whose output is a timm model's feature map number ``stage`` (``feature_info``)."""
    return model.get_submodule(model.feature_info[stage]["module"])


def grad_cam(model: nn.Module, images: torch.Tensor, stage: int = -1) -> np.ndarray:
    """(B, H, W) Grad-CAM maps in [0, 1] at the input resolution, for each image's top class,
    on feature stage ``stage`` (the last one as in the paper; an earlier, finer one when the
    input is so small that the last map is 1x1)."""
    from pytorch_grad_cam import GradCAM  # imports OpenCV: only the saliency job pays for it

    with GradCAM(model=model.eval(), target_layers=[feature_stage(model, stage)]) as cam:
        return cam(input_tensor=images, targets=None)


def top_mass_mask(attention: torch.Tensor, mass: float) -> torch.Tensor:
    """Boolean mask of the fewest largest entries (last dim) whose sum reaches ``mass`` of the total."""
    weights = attention / attention.sum(dim=-1, keepdim=True)
    ordered, order = weights.sort(dim=-1, descending=True)
    before = ordered.cumsum(dim=-1) - ordered  # mass of the larger entries ahead of each one
    keep_sorted = before < mass
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


@torch.no_grad()
def cls_attention(model: nn.Module, images: torch.Tensor, mass: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Last-layer CLS-token attention of a timm ViT, upsampled to the input size.

    Returns (attention, kept): both (B, heads, H, W); ``attention`` is the CLS token's attention
    to each patch, renormalized over patches, and ``kept`` marks the top-``mass`` patches."""
    model.eval()
    with capture_attention(model) as captured:
        model(images)
    last = captured[-1]  # (B, heads, N, N)
    prefix = model.num_prefix_tokens
    to_patches = last[:, :, 0, prefix:]
    to_patches = to_patches / to_patches.sum(dim=-1, keepdim=True)
    kept = top_mass_mask(to_patches, mass)
    rows, cols = model.patch_embed.dynamic_feat_size(images.shape[-2:]) \
        if getattr(model, "dynamic_img_size", False) else model.patch_embed.grid_size
    size = images.shape[-2:]

    def upsample(maps: torch.Tensor) -> np.ndarray:
        grid = maps.reshape(*maps.shape[:2], rows, cols).float()
        return F.interpolate(grid, size=size, mode="nearest").numpy()

    return upsample(to_patches), upsample(kept.float()).astype(bool)

"""Mean attention distance of ViT heads (the paper's Figure 5, after Dosovitskiy et al.).

For every layer and head: the distance in pixels between each query patch and the patches
it attends to, weighted by the attention probabilities, averaged over query patches and
images. Attention to prefix tokens (CLS) is left out and the patch-to-patch weights are
renormalized, so a head attending uniformly to all patches gives the grid's mean pairwise
distance and a head attending only to itself gives 0.

Probabilities come from timm's own ``Attention`` modules: the fused kernel is switched off for
the capture (timm then computes softmax(qkᵀ) explicitly) and a hook reads the output of
``attn_drop`` (identity in eval mode).
"""
from __future__ import annotations

import contextlib

import pandas as pd
import torch
from timm.layers import Attention
from torch import nn


@contextlib.contextmanager
def capture_attention(model: nn.Module):
    """Yield a list that receives, per forward pass, each attention layer's (B, H, N, N)."""
    modules = [m for m in model.modules() if isinstance(m, Attention)]
    if not modules:
        raise ValueError(f"{type(model).__name__} has no timm Attention layers")
    captured: list[torch.Tensor] = []
    hooks = [m.attn_drop.register_forward_hook(lambda _m, _in, out: captured.append(out.detach()))
             for m in modules]
    fused = [m.fused_attn for m in modules]
    for m in modules:
        m.fused_attn = False
    try:
        yield captured
    finally:
        for m, flag in zip(modules, fused):
            m.fused_attn = flag
        for hook in hooks:
            hook.remove()


def patch_distances(grid: tuple[int, int], patch_size: int) -> torch.Tensor:
    """(P, P) Euclidean distances in pixels between patch centres of a grid (rows, cols)."""
    rows, cols = torch.meshgrid(torch.arange(grid[0]), torch.arange(grid[1]), indexing="ij")
    centres = torch.stack([rows.flatten(), cols.flatten()], dim=1).double() * patch_size
    return torch.cdist(centres, centres)


def mean_distance_per_head(attention: torch.Tensor, distances: torch.Tensor, num_prefix: int) -> torch.Tensor:
    """(B, H, N, N) probabilities -> (H,) mean attention distance over queries and images."""
    patches = attention[:, :, num_prefix:, num_prefix:].double()
    patches = patches / patches.sum(dim=-1, keepdim=True)
    return (patches * distances).sum(dim=-1).mean(dim=(0, 2))


@torch.no_grad()
def attention_distances(model: nn.Module, batches, max_images: int) -> pd.DataFrame:
    """Mean attention distance per (layer, head) of a timm ViT over up to ``max_images``."""
    model.eval()
    grid = model.patch_embed.grid_size
    patch = model.patch_embed.patch_size[0]
    distances = patch_distances(grid, patch)
    totals, seen = None, 0
    for images in batches:
        images = images[: max_images - seen]
        with capture_attention(model) as captured:
            model(images)
        per_layer = torch.stack([mean_distance_per_head(a, distances, model.num_prefix_tokens) for a in captured])
        totals = per_layer * len(images) if totals is None else totals + per_layer * len(images)
        seen += len(images)
        if seen >= max_images:
            break
    mean = (totals / seen).numpy()
    return pd.DataFrame([{"layer": layer, "head": head, "distance": float(mean[layer, head])}
                         for layer in range(mean.shape[0]) for head in range(mean.shape[1])]).assign(n_images=seen)

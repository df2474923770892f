"""Palés Huix et al.'s appended classifier (their scenarios 2 and 4, and Figure 5).

A ViT classifier (DeiT-B from its ImageNet weights in the paper) is appended to a foundation
model: the foundation's last-layer patch tokens (or those of its first N blocks: decapitation)
go through a linear projection to the classifier's width and take the place of the
classifier's own patch embedding; the classifier adds its CLS token and its position embedding
(resampled to the foundation's token grid, as timm does for other input sizes), runs its blocks
and classifies from its CLS token. The foundation is frozen or fine-tuned with it.

The foundation sits inside the classifier as its patch embedding (``patch_embed.foundation``),
so the whole model is a timm ViT: its forward, ``forward_head``, ``get_classifier`` and the
k-NN embedding work unchanged.
"""
from __future__ import annotations

import torch
from torch import nn


def decapitate(foundation: nn.Module, blocks: int) -> nn.Module:
    """Keep the first ``blocks`` transformer blocks of a foundation (their Figure 5), the rest of
    its forward (final norm, SAM's neck) unchanged."""
    own = getattr(foundation, "blocks", None)
    if own is None or not 1 <= blocks <= len(own):
        raise ValueError(f"decapitate: {blocks} blocks asked, but {type(foundation).__name__} has "
                         f"{'no' if own is None else len(own)} transformer blocks (model.blocks)")
    foundation.blocks = own[:blocks]
    return foundation


def patch_tokens(foundation: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The foundation's last-layer patch tokens as a (B, H, W, C) grid: a ViT's tokens without
    its prefix (CLS, register) tokens; a feature map's positions (SAM's neck, a CNN)."""
    features = foundation.forward_features(images)
    if features.ndim == 4:  # (B, C, H, W)
        return features.permute(0, 2, 3, 1)
    embed = foundation.patch_embed
    rows, cols = (embed.dynamic_feat_size(images.shape[-2:]) if getattr(foundation, "dynamic_img_size", False)
                  else embed.grid_size)
    tokens = features[:, getattr(foundation, "num_prefix_tokens", 0):]
    return tokens.reshape(len(tokens), rows, cols, tokens.shape[-1])


class FoundationEmbedding(nn.Module):
    """The classifier's patch embedding replaced: foundation patch tokens, projected to the
    classifier's width, as a (B, H, W, D) grid (what a dynamic-size timm ViT's position
    embedding step takes). ``grid_size`` is the classifier's own, from which its position
    embedding is resampled."""

    def __init__(self, foundation: nn.Module, foundation_dim: int, classifier_dim: int,
                 grid_size: tuple[int, int], patch_size: tuple[int, int]):
        super().__init__()
        self.foundation = foundation
        self.projection = nn.Linear(foundation_dim, classifier_dim)
        self.grid_size, self.patch_size = grid_size, patch_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.projection(patch_tokens(self.foundation, images))


def append_classifier(foundation: nn.Module, classifier: nn.Module) -> nn.Module:
    """``classifier`` (a timm ViT built with ``dynamic_img_size``) reading ``foundation``'s patch
    tokens through a new projection instead of its own patch embedding."""
    if not getattr(classifier, "dynamic_img_size", False):
        raise ValueError("appended classifier: build it with dynamic_img_size=True (its position embedding "
                         "is resampled to the foundation's token grid)")
    own = classifier.patch_embed
    classifier.patch_embed = FoundationEmbedding(foundation, foundation.num_features, classifier.embed_dim,
                                                 tuple(own.grid_size), tuple(own.patch_size))
    return classifier


def appended_foundation(model: nn.Module) -> nn.Module:
    """The foundation inside a model built by ``append_classifier``."""
    return model.patch_embed.foundation

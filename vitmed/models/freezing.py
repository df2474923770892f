"""Progressive freezing (Palés Huix et al., Figure 4): a ViT fine-tuned with its input end frozen."""
from __future__ import annotations

from torch import nn


def _keep_statistics(module: nn.Module, _inputs) -> None:
    module.train(False)  # normalize with the pretrained running statistics, and leave them as they are


def freeze(module: nn.Module) -> nn.Module:
    """Stop every parameter of ``module``; its batch-norm layers stay in eval mode while the model
    trains, so it computes the pretrained encoder's own features (dropout and stochastic depth,
    where it has them, still act in training)."""
    module.requires_grad_(False)
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.register_forward_pre_hook(_keep_statistics)
    return module


def freeze_all_but_head(model: nn.Module) -> nn.Module:
    """Palés Huix et al.'s frozen foundation with a linear head (their scenario 1): every
    parameter but the classifier head's (timm's ``get_classifier``) stops, batch norm frozen too."""
    freeze(model)
    model.get_classifier().requires_grad_(True)
    return model


def freeze_first_blocks(model: nn.Module, n: int) -> nn.Module:
    """Stop gradients to a ViT's input end: its patch embedding, tokens, position embedding, the
    normalization before the blocks (CLIP's) and first ``n`` transformer blocks (Palés Huix et
    al.'s progressive freezing). Frozen parameters get no gradient, so the optimizer leaves them,
    weight decay included, as they are."""
    if n == 0:
        return model
    blocks = getattr(model, "blocks", None)
    if blocks is None or n > len(blocks):
        raise ValueError(f"freeze_blocks: {n} blocks asked, but {type(model).__name__} has "
                         f"{'no' if blocks is None else len(blocks)} transformer blocks (model.blocks)")
    # norm_pre: the token normalization before the first block of CLIP's ViTs (identity elsewhere)
    for module in [model.patch_embed, getattr(model, "norm_pre", nn.Identity()), *blocks[:n]]:
        module.requires_grad_(False)
    for name in ("cls_token", "reg_token", "pos_embed"):
        if isinstance(getattr(model, name, None), nn.Parameter):
            getattr(model, name).requires_grad_(False)
    return model

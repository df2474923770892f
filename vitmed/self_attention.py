"""Global self-attention (GA) blocks inserted into a CNN, as in "When Medical Imaging Met
Self-Attention" (Piater et al.): the embedded-Gaussian non-local block of Wang et al. (2018).

Each output position attends to every position of the feature map: softmax(θ(x)ᵀ φ(x)) g(x),
with θ, φ, g 1×1 convolutions to half the channels, then a zero-initialized 1×1 convolution
back to the channels and a residual connection. At initialization the block is the identity,
so a pretrained CNN keeps its behaviour; training decides how much attention to mix in.
Piater et al. insert GA after ResNet18's first and second stages (layer1, layer2) and after
EfficientNet-B0's second and third blocks.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class GlobalSelfAttention(nn.Module):
    def __init__(self, channels: int, reduction: int = 2):
        super().__init__()
        inner = max(1, channels // reduction)
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = nn.Conv2d(inner, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """(N, HW, HW) attention weights: row i is how position i attends to all positions."""
        query, key = self.theta(x).flatten(2), self.phi(x).flatten(2)
        return torch.softmax(query.transpose(1, 2) @ key, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        tokens = [f(x).flatten(2).transpose(1, 2).unsqueeze(1) for f in (self.theta, self.phi, self.g)]
        # unscaled dot products, as Wang et al.'s embedded Gaussian; fused attention kernels on GPU
        mixed = F.scaled_dot_product_attention(*tokens, scale=1.0).squeeze(1)
        return x + self.out(mixed.transpose(1, 2).reshape(n, -1, h, w))


PREFIX = "global_attention"  # the blocks' parameters: global_attention.<stage>.* in the state dict


def insert_global_attention(model: nn.Module, after: list[str]) -> nn.Module:
    """Put a GA block after each named stage (e.g. ``layer1``), sized from timm's
    ``feature_info`` channels. The blocks are held in ``model.global_attention`` and applied by
    forward hooks on their stages, so the CNN's own parameter names do not change: its
    pretrained weights load unchanged, and without the blocks' (which then start as the identity)."""
    channels = {info["module"]: info["num_chs"] for info in getattr(model, "feature_info", [])}
    blocks = nn.ModuleDict()
    for name in after:
        if name not in channels:
            raise ValueError(f"self_attention.global_after: {name!r} is not one of the feature stages "
                             f"{list(channels)} of {type(model).__name__} (timm feature_info)")
        block = blocks[name.replace(".", "_")] = GlobalSelfAttention(channels[name])
        model.get_submodule(name).register_forward_hook(lambda _module, _inputs, output, block=block: block(output))
    model.add_module(PREFIX, blocks)
    return model

"""Self-attention added to a CNN, as in "When Medical Imaging Met Self-Attention" (Piater et
al.): global self-attention (GA) blocks after stages, and local self-attention (LA) replacing
modules or embedded beside them (ELA).

GA is the embedded-Gaussian non-local block of Wang et al. (2018).
Each output position attends to every position of the feature map: softmax(θ(x)ᵀ φ(x)) g(x),
with θ, φ, g 1×1 convolutions to half the channels, then a zero-initialized 1×1 convolution
back to the channels and a residual connection. At initialization the block is the identity,
so a pretrained CNN keeps its behaviour; training decides how much attention to mix in.
Piater et al. insert GA after ResNet18's first and second stages (layer1, layer2) and after
EfficientNet-B0's second and third blocks.

LA is Ramachandran et al.'s (2019) stand-alone local self-attention; it replaces every
convolution of ResNet18's last stage and EfficientNet-B0's last MBConv block as a whole. LA
starts from random weights where the pretrained convolutions were; ELA keeps them and adds LA
through a zero-initialized 1×1 convolution, so it starts as the pretrained CNN.
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


class LocalSelfAttention(nn.Module):
    """Ramachandran et al.'s (2019) stand-alone local self-attention (LA), a drop-in for a
    convolution: each output position attends to the ``kernel_size``² neighbourhood around it,
    y_ij = Σ_ab softmax_ab(q_ijᵀ k_ab) v_ab per head, with q, k, v bias-free 1×1 convolutions
    (Piater et al.'s Table 1 counts exactly these three); positions outside the feature map
    are left out of the softmax. A stride is an average pooling after the attention, as in
    Ramachandran et al."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, kernel_size: int = 7, heads: int = 8):
        super().__init__()
        if out_channels % heads:
            raise ValueError(f"local self-attention: {heads} heads do not divide {out_channels} channels")
        if kernel_size % 2 == 0:
            raise ValueError(f"local self-attention: kernel_size {kernel_size} must be odd (centred neighbourhoods)")
        self.kernel_size, self.heads = kernel_size, heads
        self.query = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.key = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.value = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        # ceil_mode: the output size of the stride-s convolution it replaces, odd sizes included
        self.pool = nn.AvgPool2d(stride, ceil_mode=True) if stride > 1 else nn.Identity()

    def _neighbourhoods(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, heads, C/heads, K², HW): each position's K×K neighbours."""
        n, c, h, w = x.shape
        windows = F.unfold(x, self.kernel_size, padding=self.kernel_size // 2)
        return windows.view(n, self.heads, c // self.heads, self.kernel_size ** 2, h * w)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """(N, heads, K², HW) weights: column p is how position p attends to its neighbours."""
        n, _, h, w = x.shape
        query = self.query(x).view(n, self.heads, -1, 1, h * w)
        logits = (query * self._neighbourhoods(self.key(x))).sum(2)
        inside = self._neighbourhoods(x.new_ones(1, self.heads, h, w)).squeeze(2) > 0
        return logits.masked_fill(~inside, float("-inf")).softmax(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        mixed = (self.attention(x).unsqueeze(2) * self._neighbourhoods(self.value(x))).sum(3)
        return self.pool(mixed.view(n, -1, h, w))


class EmbeddedLocalSelfAttention(nn.Module):
    """Piater et al.'s ELA: the module it extends, plus local self-attention through a
    zero-initialized 1×1 convolution, ``original(x) + out(LA(x))``. At initialization it is the
    original module, pretrained weights and all."""

    def __init__(self, original: nn.Module, in_channels: int, out_channels: int, stride: int = 1,
                 kernel_size: int = 7, heads: int = 8):
        super().__init__()
        self.original = original
        self.attention = LocalSelfAttention(in_channels, out_channels, stride, kernel_size, heads)
        self.out = nn.Conv2d(out_channels, out_channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.original(x) + self.out(self.attention(x))


def _shapes(model: nn.Module, names: list[str]) -> dict[str, tuple[int, int, int]]:
    """(in channels, out channels, stride) of each named module, read off one forward pass."""
    seen, hooks = {}, []
    for name in names:
        def record(_module, inputs, output, name=name):
            seen[name] = (inputs[0].shape[1], output.shape[1], -(-inputs[0].shape[-1] // output.shape[-1]))
        hooks.append(model.get_submodule(name).register_forward_hook(record))
    size = model.pretrained_cfg.get("input_size", (3, 224, 224))[-1]
    training = model.training
    try:
        with torch.no_grad():
            model.eval().forward_features(torch.zeros(1, 3, size, size))
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    return seen


def replace_with_local_attention(model: nn.Module, modules: list[str], embedded: bool = False,
                                 kernel_size: int = 7, heads: int = 8) -> nn.Module:
    """Replace each named module (a convolution, or a whole block) by LA sized like it, or, with
    ``embedded``, extend it to ELA."""
    names = dict(model.named_modules())
    unknown = [name for name in modules if not name or name not in names]
    if unknown:
        raise ValueError(f"self_attention.local.modules: {unknown} are not modules of {type(model).__name__}")
    shapes = _shapes(model, modules)
    for name in modules:
        if name not in shapes:
            raise ValueError(f"self_attention.local.modules: {name!r} does not run in "
                             f"{type(model).__name__}.forward_features")
        parent, _, child = name.rpartition(".")
        original = model.get_submodule(name)
        new = (EmbeddedLocalSelfAttention(original, *shapes[name], kernel_size, heads) if embedded
               else LocalSelfAttention(*shapes[name], kernel_size, heads))
        setattr(model.get_submodule(parent) if parent else model, child, new)
    return model

"""SEEM's vision backbone (Zou et al. 2023): X-Decoder's ``focal_dw`` Focal-T, built from timm's
FocalNet and registered with timm as ``seem_focal_t``, so that every stage of the pipeline
creates it by name like any timm model.

SEEM's Focal-T (``configs/seem/focalt_*.yaml``: ``BACKBONE.NAME: focal_dw``) is FocalNet-T
(Yang et al. 2022; embedding 96, depths 2-2-6-2, three focal levels of 3 x 3 windows, the
modulator divided by four, overlapping convolutional patch embeddings, layer scale 1e-4) with two
changes timm's FocalNet does not have, made here in ``DepthwiseFocalNetBlock``:
- each block adds two residual 3 x 3 depthwise convolutions, ``dw1`` before the modulation and
  ``dw2`` before the MLP;
- its post-LN normalizes after each residual sum (``x = norm(x + f(x))``), where timm's
  ``use_post_norm`` normalizes the branch before the sum.
Its stem convolution pads by 3 (timm's by 2). ``seem_state_dict`` maps SEEM's released
checkpoint (``backbone.*`` keys, linear layers as ``nn.Linear``, each stage's downsampling at its
end) onto this module (timm's keys, 1 x 1 convolutions, downsampling at the next stage's start).
Classification pools the last stage's map globally (it has no CLS token), as the foundation paper
states for SEEM; 29.9M parameters, the paper's count.
"""
from __future__ import annotations

import re

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import calculate_drop_path_rates
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.focalnet import FocalNet, FocalNetBlock
from torch import nn

SEEM_FOCAL_T = {"embed_dim": 96, "depths": (2, 2, 6, 2), "focal_levels": (3, 3, 3, 3), "focal_windows": (3, 3, 3, 3),
                "use_overlap_down": True, "normalize_modulator": True, "layerscale_value": 1e-4}
STEM_PADDING = 3
CHECKPOINT_PREFIX = "backbone."


class DepthwiseFocalNetBlock(FocalNetBlock):
    """timm's FocalNet block (built pre-norm, its norms reused after the sums) with X-Decoder's
    residual depthwise convolutions and post-LN order."""

    def __init__(self, dim: int, **kwargs):
        super().__init__(dim, **kwargs)
        self.dw1 = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim)
        self.dw2 = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        x = x + self.dw1(x)
        x = self.norm1(x + self.drop_path1(self.ls1(self.modulation(x))))
        x = x + self.dw2(x)
        return self.norm2(x + self.drop_path2(self.ls2(self.mlp(x))))


def seem_focal_net(drop_path_rate: float = 0.0, **kwargs) -> FocalNet:
    """timm's FocalNet with SEEM's Focal-T settings, its blocks replaced by SEEM's."""
    settings = {**SEEM_FOCAL_T, **kwargs}
    model = FocalNet(drop_path_rate=drop_path_rate, **settings)
    rates = calculate_drop_path_rates(drop_path_rate, sum(settings["depths"]))
    for stage, info, level, window in zip(model.layers, model.feature_info, settings["focal_levels"],
                                          settings["focal_windows"]):
        stage.blocks = nn.ModuleList(
            DepthwiseFocalNetBlock(info["num_chs"], focal_level=level, focal_window=window,
                                   normalize_modulator=settings["normalize_modulator"],
                                   layerscale_value=settings["layerscale_value"], drop_path=rates.pop(0))
            for _ in stage.blocks)
    model.stem.proj.padding = (STEM_PADDING, STEM_PADDING)
    return model


# timm's registry reads a module's ``default_cfgs``: ImageNet statistics (SEEM's PIXEL_MEAN / PIXEL_STD x 255)
default_cfgs = generate_default_cfgs({"seem_focal_t": {
    "url": "", "num_classes": 1000, "input_size": (3, 224, 224), "pool_size": (7, 7), "crop_pct": 0.875,
    "interpolation": "bicubic", "mean": IMAGENET_DEFAULT_MEAN, "std": IMAGENET_DEFAULT_STD,
    "first_conv": "stem.proj", "classifier": "head.fc", "license": "apache-2.0"}})


@register_model
def seem_focal_t(pretrained: bool = False, **kwargs) -> FocalNet:
    """SEEM's Focal-T, randomly initialized (its released weights are a file: ``seem_state_dict``)."""
    if pretrained:
        raise ValueError("seem_focal_t has no timm hub weights: give SEEM's released checkpoint as a weights file "
                         "(models.<name>.weights_url)")
    return build_model_with_cfg(seem_focal_net, "seem_focal_t", pretrained=False,
                                feature_cfg={"flatten_sequential": True, "out_indices": (0, 1, 2, 3)}, **kwargs)


def is_seem_checkpoint(state: dict) -> bool:
    """Whether a state dict is SEEM's (X-Decoder's focal_dw backbone under ``backbone.``)."""
    return any(key.startswith(CHECKPOINT_PREFIX) and ".dw1." in key for key in state)


_LINEAR = re.compile(r"\.(modulation\.f|modulation\.proj|mlp\.fc1|mlp\.fc2)\.weight$")


def seem_state_dict(checkpoint: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """SEEM's backbone weights (``backbone.*`` of its checkpoint) in ``seem_focal_t``'s keys; the
    last stage's output norm (``norm3``) is timm's final ``norm``, the other stages' output norms
    (``norm0``-``norm2``, feeding SEEM's pixel decoder) are left out."""
    state = {}
    for key, value in checkpoint.items():
        if not key.startswith(CHECKPOINT_PREFIX):
            continue
        key = key[len(CHECKPOINT_PREFIX):]
        if re.fullmatch(r"norm[012]\.(weight|bias)", key):
            continue
        key = key.replace("patch_embed.", "stem.").replace("norm3.", "norm.")
        key = re.sub(r"gamma_([12])$", r"ls\1.gamma", key)
        downsample = re.match(r"layers\.(\d+)\.downsample\.(.*)", key)
        if downsample:  # SEEM downsamples at the end of stage i, timm at the start of stage i + 1
            key = f"layers.{int(downsample.group(1)) + 1}.downsample.{downsample.group(2)}"
        if _LINEAR.search(key):
            value = value[:, :, None, None]  # nn.Linear -> timm's 1 x 1 convolution
        state[key] = value
    if not state:
        raise ValueError(f"no SEEM backbone weights (keys {CHECKPOINT_PREFIX}*) in the checkpoint")
    return state

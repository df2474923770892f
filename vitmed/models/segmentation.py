"""DeepLabV3 on any timm encoder: the ViT paper's segmentation models (its Table 2).

torchvision's ``DeepLabV3`` runs a backbone that returns ``{"out": feature map}``, its
``DeepLabHead`` (ASPP, atrous rates 12/24/36, then a 3x3 conv and the 1x1 classifier) on that
map, and upsamples the logits bilinearly to the input. The encoders:

- a CNN: the timm model's last feature map, built with ``output_stride`` 8 (its last two
  stages dilated instead of strided), as torchvision's ``deeplabv3_resnet50`` builds ResNet50:
  a 512-pixel image gives a 64 x 64 map (timm's ``resnet50.tv_in1k`` holds torchvision's ImageNet
  weights, so the ResNet50 encoder is torchvision's, weight for weight);
- a ViT: the last block's patch tokens, layer-normed, without the CLS token, laid out on the
  patch grid (``forward_intermediates``): DeiT-S at 512 pixels gives 384 x 32 x 32, output
  stride 16. The paper writes that the CLS token feeds the decoder; one token has no spatial
  layout, so the patch tokens do (README, deviations). The position embedding is resampled to
  the segmentation input size (timm does this for hub weights; ``fit_position_embedding`` for
  weights files).
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.segmentation.deeplabv3 import DeepLabHead, DeepLabV3

from vitmed.models.factory import create_model, kaiming_init


class FeatureMap(nn.Module):
    """A timm CNN as a DeepLabV3 backbone: its last feature map."""

    def __init__(self, cnn: nn.Module):
        super().__init__()
        self.encoder = cnn
        self.channels = cnn.num_features

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": self.encoder.forward_features(x)}


class TokenMap(nn.Module):
    """A timm ViT as a DeepLabV3 backbone: its last block's patch tokens as a (B, C, H/p, W/p) map."""

    def __init__(self, vit: nn.Module):
        super().__init__()
        self.encoder = vit
        self.channels = vit.embed_dim

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        (tokens,) = self.encoder.forward_intermediates(x, indices=1, norm=True, output_fmt="NCHW",
                                                       intermediates_only=True)
        return {"out": tokens}


def encoder_kwargs(model_config: dict, input_size: int, output_stride: int) -> dict:
    """timm kwargs of a segmentation encoder: a ViT at the segmentation input size, any size
    accepted at evaluation; a CNN at ``output_stride``."""
    kwargs = dict(model_config.get("kwargs") or {})
    if model_config["family"] == "vit":
        kwargs.update(img_size=input_size, dynamic_img_size=True)
    else:
        kwargs["output_stride"] = output_stride
    return kwargs


def build_segmenter(model_config: dict, num_classes: int, weights: str | None, *, input_size: int,
                    output_stride: int = 8) -> DeepLabV3:
    """DeepLabV3 with the encoder of a study's ``models.<name>`` entry, from ``weights`` (the
    weights resolver's source: a file, timm's hub, or None), a new head for ``num_classes``."""
    encoder = create_model(model_config["timm_name"], 0, weights,
                           encoder_kwargs(model_config, input_size, output_stride), model_config.get("self_attention"))
    if weights is None and model_config.get("random_init", "timm") == "kaiming":
        kaiming_init(encoder)
    backbone = TokenMap(encoder) if model_config["family"] == "vit" else FeatureMap(encoder)
    return DeepLabV3(backbone, DeepLabHead(backbone.channels, num_classes))


def load_segmenter(model_config: dict, num_classes: int, checkpoint, *, input_size: int,
                   output_stride: int = 8) -> DeepLabV3:
    """A trained segmentation model from its ``best.pt``, in eval mode."""
    model = build_segmenter(model_config, num_classes, None, input_size=input_size, output_stride=output_stride)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    return model.eval()

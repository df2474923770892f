"""The paper's augmentations applied to whole batches, with fresh random parameters per image.

Per-image torchvision.transforms.v2 pipelines cost ~1.5 ms an image on a CPU core, more than
a toy model's step; on a batch tensor (CPU or GPU) the same augmentations cost a few ms per
batch. Each image's crop box and flips form one affine map, sampled bilinearly in a single
``grid_sample`` call for the whole batch (one sample per output pixel, as a resize); the colour
jitter follows torchvision's definitions of brightness, contrast and saturation, and turns
hue in YIQ space (a rotation of the chroma plane, cheap on batches). All randomness comes
from torch's global RNG, so seeding it makes a batch's augmentation reproducible.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_GRAY = torch.tensor([0.299, 0.587, 0.114])
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def _normalize(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def _uniform(n: int, low: float, high: float, device) -> torch.Tensor:
    return torch.rand(n, device=device) * (high - low) + low


def random_crop_boxes(n: int, height: int, width: int, scale: tuple[float, float],
                      ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """RandomResizedCrop's box distribution (area fraction ~ U(scale), log aspect ~ U(log ratio)),
    one (x1, y1, x2, y2) box per image; boxes that do not fit are shrunk to fit."""
    area = _uniform(n, *scale, "cpu") * height * width
    log_ratio = _uniform(n, math.log(ratio[0]), math.log(ratio[1]), "cpu")
    aspect = log_ratio.exp()
    w = (area * aspect).sqrt().clamp(max=width)
    h = (area / aspect).sqrt().clamp(max=height)
    x1 = torch.rand(n) * (width - w)
    y1 = torch.rand(n) * (height - h)
    return torch.stack([x1, y1, x1 + w, y1 + h], dim=1)


class BatchAugment(nn.Module):
    """uint8 (B, 3, H, W) -> normalized float (B, 3, S, S): random resized crop, horizontal
    and vertical flips, colour jitter (with probability ``p``), ImageNet normalization."""

    def __init__(self, output_size: int, augment: dict):
        super().__init__()
        self.output_size = output_size
        self.scale = tuple(augment["crop_scale"])
        self.hflip, self.vflip = augment["hflip"], augment["vflip"]
        self.jitter = augment["color_jitter"]

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        n, _, height, width = images.shape
        x = images.float().div_(255)
        x1, y1, x2, y2 = random_crop_boxes(n, height, width, self.scale).unbind(1)
        # output [-1, 1] -> the box in the input's normalized coordinates; a flip negates the scale
        h_sign = torch.where(torch.rand(n) < self.hflip, -1.0, 1.0)
        v_sign = torch.where(torch.rand(n) < self.vflip, -1.0, 1.0)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0], theta[:, 0, 2] = h_sign * (x2 - x1) / width, (x1 + x2) / width - 1
        theta[:, 1, 1], theta[:, 1, 2] = v_sign * (y2 - y1) / height, (y1 + y2) / height - 1
        grid = F.affine_grid(theta.to(x.device), [n, 3, self.output_size, self.output_size], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return _normalize(self.color_jitter(x))

    def color_jitter(self, x: torch.Tensor) -> torch.Tensor:
        n, j = x.shape[0], self.jitter
        apply = (torch.rand(n, device=x.device) < j["p"]).view(-1, 1, 1, 1)
        out = x
        b, c, s = j["brightness"], j["contrast"], j["saturation"]
        factor = _uniform(n, max(0.0, 1 - b), 1 + b, x.device).view(-1, 1, 1, 1)
        out = (out * factor).clamp(0, 1)
        gray = (out * _GRAY.to(x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
        factor = _uniform(n, max(0.0, 1 - c), 1 + c, x.device).view(-1, 1, 1, 1)
        out = ((out - gray.mean((2, 3), keepdim=True)) * factor + gray.mean((2, 3), keepdim=True)).clamp(0, 1)
        gray = (out * _GRAY.to(x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
        factor = _uniform(n, max(0.0, 1 - s), 1 + s, x.device).view(-1, 1, 1, 1)
        out = (gray + (out - gray) * factor).clamp(0, 1)
        if j["hue"] > 0:
            angle = _uniform(n, -j["hue"], j["hue"], x.device) * 2 * math.pi
            rotation = torch.zeros(n, 3, 3, device=x.device)  # turns the (I, Q) chroma plane
            rotation[:, 0, 0] = 1
            rotation[:, 1, 1], rotation[:, 1, 2] = angle.cos(), -angle.sin()
            rotation[:, 2, 1], rotation[:, 2, 2] = angle.sin(), angle.cos()
            yiq = _RGB_TO_YIQ.to(x.device)
            per_image = torch.linalg.inv(yiq) @ rotation @ yiq  # RGB -> YIQ -> turned -> RGB, one matrix
            out = torch.bmm(per_image, out.flatten(2)).view_as(out).clamp(0, 1)
        return torch.where(apply, out, x)


class PerImageAugment(nn.Module):
    """The same augmentations as one ``torchvision.transforms.v2`` pipeline per image: the
    reference implementation, and the slow path (``augment.backend: v2``)."""

    def __init__(self, output_size: int, augment: dict):
        super().__init__()
        j = augment["color_jitter"]
        self.pipeline = v2.Compose([
            v2.RandomResizedCrop(output_size, scale=tuple(augment["crop_scale"]), antialias=True),
            v2.RandomHorizontalFlip(augment["hflip"]),
            v2.RandomVerticalFlip(augment["vflip"]),
            v2.RandomApply([v2.ColorJitter(j["brightness"], j["contrast"], j["saturation"], j["hue"])], p=j["p"]),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.pipeline(v2.functional.to_image(image)) for image in images])


def make_augment(output_size: int, augment: dict) -> nn.Module:
    backends = {"batched": BatchAugment, "v2": PerImageAugment}
    return backends[augment.get("backend", "batched")](output_size, augment)


class BatchEval(nn.Module):
    """uint8 (B, 3, H, W) -> normalized float (B, 3, S, S): resize the whole image."""

    def __init__(self, output_size: int):
        super().__init__()
        self.output_size = output_size

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().div_(255)
        if x.shape[-2:] != (self.output_size, self.output_size):
            x = nn.functional.interpolate(x, size=(self.output_size, self.output_size), mode="bilinear",
                                          antialias=True, align_corners=False)
        return _normalize(x)

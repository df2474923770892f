"""The paper's augmentations applied to whole batches, with fresh random parameters per image.

Per-image torchvision.transforms.v2 pipelines cost ~1.5 ms an image on a CPU core, more than
a toy model's step; on a batch tensor (CPU or GPU) the same augmentations take five passes
over the batch. Each image's crop box and flips form one axis-aligned map, sampled bilinearly
in a single ``grid_sample`` call for the whole batch (one sample per output pixel, as a
resize). Brightness, contrast and saturation follow torchvision's definitions, and hue turns
the chroma plane of YIQ space: all four are affine in the pixel values, so with one clamp at
the end (torchvision clamps after each step) they and the ImageNet normalization fold into
one 3×3 matrix and offset per image, applied in one batched matmul. Without intermediate
clamps the four commute, so torchvision's random order of them has no effect here.

Every random parameter is drawn on the CPU from torch's global RNG and reaches the device in
one copy: seeding it gives the same augmentation on any device, and the GPU never waits for
the host (no device-to-host reads).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.transforms import v2

from vitmed.data.constants import IMAGENET_MEAN, IMAGENET_STD

_GRAY = torch.tensor([0.299, 0.587, 0.114])  # luma weights: the Y row of YIQ, sums to 1
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                           dtype=torch.float64)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _uniform(n: int, low: float, high: float) -> torch.Tensor:
    return torch.rand(n) * (high - low) + low


def random_crop_boxes(n: int, height: int, width: int, scale: tuple[float, float],
                      ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """RandomResizedCrop's box distribution (area fraction ~ U(scale), log aspect ~ U(log ratio)),
    one (x1, y1, x2, y2) box per image; boxes that do not fit are shrunk to fit."""
    area = _uniform(n, *scale) * height * width
    aspect = _uniform(n, math.log(ratio[0]), math.log(ratio[1])).exp()
    w = (area * aspect).sqrt().clamp(max=width)
    h = (area / aspect).sqrt().clamp(max=height)
    x1 = torch.rand(n) * (width - w)
    y1 = torch.rand(n) * (height - h)
    return torch.stack([x1, y1, x1 + w, y1 + h], dim=1)


def hue_matrices(turns: torch.Tensor) -> torch.Tensor:
    """(n,) hue shifts in turns -> (n, 3, 3) RGB matrices turning the YIQ chroma plane; they keep
    luma (and so gray pixels) unchanged."""
    angle = turns.double() * 2 * math.pi
    rotation = torch.zeros(len(turns), 3, 3, dtype=torch.float64)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2] = angle.cos(), -angle.sin()
    rotation[:, 2, 1], rotation[:, 2, 2] = angle.sin(), angle.cos()
    return (_YIQ_TO_RGB @ rotation @ _RGB_TO_YIQ).float()


def colour_maps(brightness: torch.Tensor, contrast: torch.Tensor, saturation: torch.Tensor,
                hue: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image jitter factors (torchvision's meaning; hue in turns) -> the affine colour map
    ``x -> matrix @ x + offset * mean_luma(x)``, as (n, 3, 3) matrices and (n,) offsets.

    Brightness scales; contrast blends with the image's mean luma; saturation blends with the
    pixel's luma; hue turns chroma. The last two keep luma and map gray to gray, which is why
    the contrast term stays one scalar times the input's mean luma."""
    eye = torch.eye(3).expand(len(brightness), 3, 3)
    gray = torch.ones(3, 1) @ _GRAY.view(1, 3)  # x -> its luma in every channel
    s = saturation.view(-1, 1, 1)
    desaturate = s * eye + (1 - s) * gray
    scale = (brightness * contrast).view(-1, 1, 1)
    return hue_matrices(hue) @ desaturate * scale, (1 - contrast) * brightness


def affine_inverses(angle: torch.Tensor, shear: torch.Tensor, scale_x: torch.Tensor,
                    scale_y: torch.Tensor) -> torch.Tensor:
    """(n, 2, 2) inverses of the forward maps ``R(angle) @ Shear_x(shear) @ diag(scale_x, scale_y)``
    (angles in degrees, each (n,)), about the image centre in the square output's normalized
    (x, y) coordinates: torchvision's ``affine`` (its rotation direction and x-shear), with a
    scale per axis as imgaug's ``Affine`` draws it for Perez et al.'s recipe."""
    theta, phi = torch.deg2rad(angle.double()), torch.deg2rad(shear.double())
    rotation = torch.stack([theta.cos(), -theta.sin(), theta.sin(), theta.cos()], 1).view(-1, 2, 2)
    shearing = torch.stack([torch.ones_like(phi), -phi.tan(), torch.zeros_like(phi), torch.ones_like(phi)],
                           1).view(-1, 2, 2)
    scaling = torch.diag_embed(torch.stack([scale_x.double(), scale_y.double()], 1))
    return torch.linalg.inv(rotation @ shearing @ scaling).float()


def mirror(coordinates: torch.Tensor) -> torch.Tensor:
    """Normalized coordinates folded back into [-1, 1] by mirroring at the edges (period 4):
    a coordinate beyond an edge samples the image mirrored there (imgaug's ``symmetric``)."""
    folded = torch.remainder(coordinates + 1, 4)
    return torch.where(folded > 2, 4 - folded, folded) - 1


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Float (n, C, H, W) images, each blurred with its own Gaussian (``sigma``: (n,), 0 = left
    as it is), separably, edges reflected: torchvision's ``gaussian_blur`` per image, in one
    grouped convolution per axis for the batch."""
    n, channels, height, width = images.shape
    radius = min((kernel_size - 1) // 2, height - 1, width - 1)  # reflection needs a pad below the side
    x = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    pdf = torch.exp(-0.5 * (x / sigma.to(images.dtype).clamp(min=1e-6).view(n, 1)) ** 2)
    kernels = (pdf / pdf.sum(1, keepdim=True)).repeat_interleave(channels, dim=0)  # (n * C, k)
    flat = images.reshape(1, n * channels, height, width)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernels.view(n * channels, 1, 1, -1),
                    groups=n * channels)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernels.view(n * channels, 1, -1, 1),
                    groups=n * channels)
    return flat.view(n, channels, height, width)


def blur_kernel_size(sigma_max: float) -> int:
    """An odd kernel covering three standard deviations of the widest blur."""
    return 2 * math.ceil(3 * sigma_max) + 1


def _send(tensors: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """CPU tensors -> the same on ``device`` in one copy; to a GPU from pinned memory without
    blocking, so the host never waits for the device's queue to drain."""
    if device.type == "cpu":
        return tensors
    packed = torch.cat([t.flatten() for t in tensors])
    packed = packed.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else packed.to(device)
    return [part.view(t.shape) for part, t in zip(packed.split([t.numel() for t in tensors]), tensors)]


def _crop_map(params: AugmentParams, height: int, width: int) -> torch.Tensor:
    """The crop box and flips as an affine map: output pixel centre u in [-1, 1] -> input
    coordinate scale * u + shift, per axis: (n, 4) = x scale, x shift, y scale, y shift."""
    x1, y1, x2, y2 = params.boxes.unbind(1)
    return torch.stack([torch.where(params.hflip, -1.0, 1.0) * (x2 - x1) / width, (x1 + x2) / width - 1,
                        torch.where(params.vflip, -1.0, 1.0) * (y2 - y1) / height, (y1 + y2) / height - 1], 1)


@dataclass
class AugmentParams:
    """One batch's random draws, on the CPU: crop boxes (x1, y1, x2, y2) in input pixels,
    flips, and jitter factors (1 and 0 where jitter is not applied to an image)."""
    boxes: torch.Tensor
    hflip: torch.Tensor
    vflip: torch.Tensor
    brightness: torch.Tensor
    contrast: torch.Tensor
    saturation: torch.Tensor
    hue: torch.Tensor
    # DINO's further views (absent from the fine-tuning recipe): grayscale, blur sigma (0 = none), solarize
    gray: torch.Tensor | None = None
    blur_sigma: torch.Tensor | None = None
    solarize: torch.Tensor | None = None
    # segmentation's elastic deformation (on the device): (n, S, S, 2) displacement of the output grid
    grid_displacement: torch.Tensor | None = None
    # Perez et al.'s affine (rotation, shear, scale) after the crop: (n, 2, 2) output -> crop coordinates
    affine: torch.Tensor | None = None


def affine_setting(augment: dict) -> dict | None:
    """``augment.affine`` where it changes anything (rotation or shear range, or a scale range
    other than [1, 1]); None otherwise, so no random numbers are drawn for it."""
    affine = augment.get("affine") or {}
    active = affine.get("rotation", 0) or affine.get("shear", 0) or list(affine.get("scale", [1, 1])) != [1, 1]
    return {"rotation": 0, "shear": 0, "scale": [1, 1], **affine} if active else None


class BatchAugment(nn.Module):
    """uint8 (B, 3, H, W) -> normalized float (B, 3, S, S): random resized crop, horizontal
    and vertical flips, colour jitter (with probability ``p``), ImageNet normalization; where
    ``augment.affine`` asks (Perez et al.'s recipe), a random rotation, x-shear and per-axis
    scale of the crop, mirrored at its edges, before the flips; and,
    where ``augment`` asks (DINO's views), random grayscale (``grayscale_p``), Gaussian blur
    (``blur_p``, sigma ~ U(``blur_sigma``)) and solarization (``solarize_p``, threshold 128), in
    DINO's order: jitter, grayscale, blur, solarize."""

    def __init__(self, output_size: int, augment: dict):
        super().__init__()
        self.output_size = output_size
        self.scale = tuple(augment["crop_scale"])
        self.hflip, self.vflip = augment["hflip"], augment["vflip"]
        self.jitter = augment["color_jitter"]
        self.grayscale = augment.get("grayscale_p", 0.0)
        self.blur, self.blur_sigma = augment.get("blur_p", 0.0), tuple(augment.get("blur_sigma", (0.1, 2.0)))
        self.solarize = augment.get("solarize_p", 0.0)
        self.affine = affine_setting(augment)

    def sample(self, n: int, height: int, width: int) -> AugmentParams:
        j = self.jitter
        boxes = random_crop_boxes(n, height, width, self.scale)
        hflip, vflip = torch.rand(n) < self.hflip, torch.rand(n) < self.vflip
        apply = torch.rand(n) < j["p"]
        factors = [torch.where(apply, _uniform(n, max(0.0, 1 - j[k]), 1 + j[k]), 1.0)
                   for k in ("brightness", "contrast", "saturation")]
        hue = torch.where(apply, _uniform(n, -j["hue"], j["hue"]), 0.0)
        params = AugmentParams(boxes, hflip, vflip, *factors, hue)
        # drawn only where asked for, after the rest: the fine-tuning recipe's draws stay the same
        if self.grayscale > 0:
            params.gray = torch.rand(n) < self.grayscale
        if self.blur > 0:
            params.blur_sigma = torch.where(torch.rand(n) < self.blur, _uniform(n, *self.blur_sigma), 0.0)
        if self.solarize > 0:
            params.solarize = torch.rand(n) < self.solarize
        if self.affine:
            a = self.affine
            params.affine = affine_inverses(_uniform(n, -a["rotation"], a["rotation"]),
                                            _uniform(n, -a["shear"], a["shear"]),
                                            _uniform(n, *a["scale"]), _uniform(n, *a["scale"]))
        return params

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.apply(images, self.sample(len(images), *images.shape[-2:]))

    @torch.no_grad()
    def apply(self, images: torch.Tensor, params: AugmentParams) -> torch.Tensor:
        n, _, height, width = images.shape
        size, device = self.output_size, images.device
        matrix, offset = colour_maps(params.brightness, params.contrast, params.saturation, params.hue)
        if params.gray is not None:  # affine too: luma in every channel after the jitter (offsets are gray)
            matrix = torch.where(params.gray.view(n, 1, 1), torch.ones(3, 1) @ _GRAY.view(1, 3) @ matrix, matrix)
        if params.blur_sigma is not None or params.solarize is not None:
            return self._apply_in_pixels(images, params, matrix, offset)
        crop = _crop_map(params, height, width)
        # normalization folded in: ((M x / 255 + offset * luma) - mean) / std, pixel values 0..255
        mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1)
        crop, matrix, bias_per_luma, shift, high, gray, *affine = _send(
            [crop, matrix / (255 * std), offset.view(n, 1, 1) / (255 * std), -mean / std, (1 - mean) / std,
             _GRAY.view(1, 3, 1), *([params.affine] if params.affine is not None else [])], device)

        x = self._sample_crop(images, self._grid(crop, params.grid_displacement, *affine))
        luma = x.mean(2, keepdim=True).transpose(1, 2) @ gray  # (n, 1, 1): each image's mean luma
        x = torch.baddbmm(bias_per_luma * luma + shift, matrix, x).clamp_(shift, high)
        return x.view(n, 3, size, size)

    def _grid(self, crop: torch.Tensor, displacement: torch.Tensor | None = None,
              affine: torch.Tensor | None = None) -> torch.Tensor:
        """The sampling grid (n, S, S, 2) of each image's crop box and flips; with an elastic
        ``displacement`` (n, S, S, 2, in the output's normalized units) the output pixel u
        samples the cropped image at u + displacement(u), as torchvision's ``elastic``; with
        ``affine`` (n, 2, 2), the flipped u samples the crop at ``mirror(affine @ u)``: the
        affine acts on the resized crop, and the flips after it, as in Perez et al.'s pipeline."""
        size = self.output_size
        u = (torch.arange(size, device=crop.device) + 0.5) * (2 / size) - 1
        grid = torch.stack(torch.broadcast_tensors(u[None, None, :], u[None, :, None]), dim=-1).expand(
            len(crop), size, size, 2)
        if displacement is not None:
            grid = grid + displacement
        scale, shift = crop[:, [0, 2]].view(-1, 1, 1, 2), crop[:, [1, 3]].view(-1, 1, 1, 2)
        if affine is not None:
            grid = mirror(torch.einsum("nij,nhwj->nhwi", affine, grid * scale.sign()))
            scale = scale.abs()
        return grid * scale + shift

    def _sample_crop(self, images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        """One bilinear sample per output pixel at ``grid``: (n, 3, S * S)."""
        x = images.to(torch.float32, memory_format=torch.contiguous_format)  # one pass from channels-last uint8
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False).flatten(2)

    def _apply_in_pixels(self, images: torch.Tensor, params: AugmentParams, matrix: torch.Tensor,
                         offset: torch.Tensor) -> torch.Tensor:
        """DINO's views: blur and solarization act on the clamped 0-255 pixels, so the colour map
        is applied and clamped in pixel units, then they (each on the images drawn for it only,
        chosen on the CPU and sent with the rest in the one copy), then the normalization."""
        n, _, height, width = images.shape
        size = self.output_size
        crop = _crop_map(params, height, width)
        no_rows = torch.zeros(0, dtype=torch.long)
        blurred = torch.nonzero(params.blur_sigma > 0).flatten() if params.blur_sigma is not None else no_rows
        solarized = torch.nonzero(params.solarize).flatten() if params.solarize is not None else no_rows
        sigma = params.blur_sigma[blurred] if params.blur_sigma is not None else torch.zeros(0)
        # row indices travel as floats in the packed copy (exact below 2**24), back to int64 there
        crop, matrix, offset, gray, mean, std, blur_rows, sigma, solar_rows = _send(
            [crop, matrix, offset.view(n, 1, 1), _GRAY.view(1, 3, 1), torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
             torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), blurred.float(), sigma, solarized.float()], images.device)
        x = self._sample_crop(images, self._grid(crop))
        luma = x.mean(2, keepdim=True).transpose(1, 2) @ gray
        x = torch.baddbmm(offset * luma, matrix, x).clamp_(0, 255).view(n, 3, size, size)
        if len(blurred):
            rows = blur_rows.long()
            x[rows] = gaussian_blur(x[rows], sigma, blur_kernel_size(self.blur_sigma[1]))
        if len(solarized):  # PIL's solarize: pixels at or above 128 are inverted
            rows = solar_rows.long()
            x[rows] = torch.where(x[rows] >= 128, 255 - x[rows], x[rows])
        return (x / 255 - mean) / std


def elastic_displacement(noise: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
    """torchvision's ``ElasticTransform`` field from its uniform noise (n, 2, S, S) in [-1, 1):
    each plane Gaussian-blurred (kernel ``int(8 sigma + 1)``, made odd) and scaled by
    alpha / S, returned as (n, S, S, 2) displacements of the normalized grid."""
    n, _, size, _ = noise.shape
    kernel = int(8 * sigma + 1)
    kernel += kernel % 2 == 0
    if sigma > 0:
        noise = gaussian_blur(noise, torch.full((n,), float(sigma), device=noise.device), kernel)
    return (noise * (alpha / size)).permute(0, 2, 3, 1)


class SegmentationAugment(BatchAugment):
    """Image and mask batches -> (normalized float images (B, 3, S, S), int64 masks (B, S, S)):
    the classification recipe's crop and flips as one sampling grid shared by image (bilinear)
    and mask (nearest, so it keeps only its label values), and with probability
    ``elastic.p`` a torchvision-style elastic deformation of that grid (CSAW-S); colour jitter
    and normalization on the image only."""

    def __init__(self, output_size: int, augment: dict, elastic: dict | None = None):
        super().__init__(output_size, augment)
        self.elastic = elastic if elastic and elastic.get("p", 0) > 0 else None

    def sample(self, n: int, height: int, width: int) -> AugmentParams:
        params = super().sample(n, height, width)
        if self.elastic:
            # uniform noise drawn on the CPU like every other draw; blurred on the device
            params.grid_displacement = torch.where((torch.rand(n) < self.elastic["p"]).view(n, 1, 1, 1),
                                                   torch.rand(n, 2, self.output_size, self.output_size) * 2 - 1, 0.0)
        return params

    @torch.no_grad()
    def forward(self, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        params = self.sample(len(images), *images.shape[-2:])
        if params.grid_displacement is not None:
            noise = _send([params.grid_displacement], images.device)[0]
            params.grid_displacement = elastic_displacement(noise, self.elastic["alpha"], self.elastic["sigma"])
        return self.apply(images, params), self.sample_masks(masks, params)

    def sample_masks(self, masks: torch.Tensor, params: AugmentParams) -> torch.Tensor:
        """The masks (B, H, W) at the images' sampling grid, nearest neighbour."""
        crop, *affine = _send([_crop_map(params, *masks.shape[-2:]),
                               *([params.affine] if params.affine is not None else [])], masks.device)
        grid = self._grid(crop, params.grid_displacement, *affine)
        sampled = F.grid_sample(masks[:, None].to(torch.float32), grid, mode="nearest", padding_mode="border",
                                align_corners=False)
        return sampled[:, 0].round().long()


class PerImageAugment(nn.Module):

    """The same augmentations as one ``torchvision.transforms.v2`` pipeline per image: the
    reference implementation, and the slow path (``augment.backend: v2``)."""

    def __init__(self, output_size: int, augment: dict):
        super().__init__()
        if affine_setting(augment):
            raise ValueError("augment.affine: the v2 backend has no mirrored affine (torchvision's fills the "
                             "corners); use augment.backend: batched")
        j, sigma = augment["color_jitter"], tuple(augment.get("blur_sigma", (0.1, 2.0)))
        self.pipeline = v2.Compose([
            v2.RandomResizedCrop(output_size, scale=tuple(augment["crop_scale"]), antialias=True),
            v2.RandomHorizontalFlip(augment["hflip"]),
            v2.RandomVerticalFlip(augment["vflip"]),
            v2.RandomApply([v2.ColorJitter(j["brightness"], j["contrast"], j["saturation"], j["hue"])], p=j["p"]),
            v2.RandomGrayscale(augment.get("grayscale_p", 0.0)),
            v2.RandomApply([v2.GaussianBlur(blur_kernel_size(sigma[1]), sigma)], p=augment.get("blur_p", 0.0)),
            v2.RandomSolarize(128, p=augment.get("solarize_p", 0.0)),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.pipeline(v2.functional.to_image(image)) for image in images])


def make_augment(output_size: int, augment: dict) -> nn.Module:
    backends = {"batched": BatchAugment, "v2": PerImageAugment}
    return backends[augment.get("backend", "batched")](output_size, augment)


EVAL_CROPS = ("center", "resize")


class BatchEval(nn.Module):
    """uint8 (B, 3, H, W) -> normalized float (B, 3, S, S) for evaluation: the centre S x S crop
    (``crop="center"``: the common protocol, the 224 centre of the 256 image, as the foundation-
    model paper states) or the whole image resized to S (``"resize"``)."""

    def __init__(self, output_size: int, crop: str = "center"):
        super().__init__()
        if crop not in EVAL_CROPS:
            raise ValueError(f"eval_crop: {crop!r} is not one of {EVAL_CROPS}")
        self.output_size, self.crop = output_size, crop

    @torch.no_grad()
    def geometry(self, images: torch.Tensor) -> torch.Tensor:
        """The float pixels (0-255) the model sees, before normalization."""
        x = images.to(torch.float32, memory_format=torch.contiguous_format)
        size = [self.output_size, self.output_size]
        if x.shape[-2:] == tuple(size):
            return x
        if self.crop == "center" and min(x.shape[-2:]) >= self.output_size:
            return v2.functional.center_crop(x, size)
        return nn.functional.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.geometry(images)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        scale, shift = _send([1 / (255 * std), -torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) / std], x.device)
        return x.mul_(scale).add_(shift)  # (x / 255 - mean) / std

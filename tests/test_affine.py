"""Perez et al.'s affine (Piater et al.'s augmentation recipe), batched: torchvision's affine on
the crop, mirrored at its edges, a scale per axis, flips after it."""
import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from vitmed.data.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentParams,
    BatchAugment,
    PerImageAugment,
    affine_inverses,
)

NO_JITTER = {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0, "p": 1.0}
PEREZ = {"rotation": 90, "shear": 20, "scale": [0.8, 1.2]}


def recipe(**overrides):
    return {"crop_scale": [1.0, 1.0], "hflip": 0.0, "vflip": 0.0, "color_jitter": dict(NO_JITTER), **overrides}


def images(n=2, size=32, seed=0):
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def with_affine(n, size, affine, hflip=False):
    """The whole image as the crop, no jitter, one affine per image (and a horizontal flip)."""
    ones, zeros = torch.ones(n), torch.zeros(n)
    return AugmentParams(torch.tensor([[0.0, 0.0, size, size]] * n), torch.full((n,), hflip), zeros.bool(), ones, ones,
                         ones, zeros, affine=affine)


def pixels(x):
    return (x * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) * 255


def inside(affine, size):
    """Output pixels whose source lies inside the image (no mirroring there), by a pixel's margin."""
    u = (torch.arange(size) + 0.5) * (2 / size) - 1
    grid = torch.stack(torch.broadcast_tensors(u[None, :], u[:, None]), -1)
    source = torch.einsum("ij,hwj->hwi", affine, grid)
    return (source.abs() <= 1 - 2 / size).all(-1)


@pytest.mark.parametrize("angle, shear, scale", [(25.0, 0.0, 1.3), (-60.0, 12.0, 1.1), (0.0, -20.0, 0.9)])
def test_the_affine_is_torchvisions_where_it_stays_inside_the_crop(angle, shear, scale):
    batch = images()
    affine = affine_inverses(torch.tensor([angle] * 2), torch.tensor([shear] * 2), torch.tensor([scale] * 2),
                             torch.tensor([scale] * 2))
    ours = pixels(BatchAugment(32, recipe()).apply(batch, with_affine(2, 32, affine)))
    expected = TF.affine(batch.float(), angle=angle, translate=[0, 0], scale=scale, shear=[shear, 0.0],
                         interpolation=InterpolationMode.BILINEAR)
    keep = inside(affine[0], 32)
    assert keep.float().mean() > 0.5
    torch.testing.assert_close(ours[..., keep], expected[..., keep], atol=0.05, rtol=0)
    assert (ours[..., ~keep] > 0).float().mean() > 0.9  # mirrored there, where torchvision fills zeros


def test_beyond_the_crop_the_image_is_mirrored_at_its_edges():
    """Zoomed out by 2: the output shows the image and its mirror images; columns 24..31
    mirror columns 16..23 (u and 1 - u sample 2u and its mirror 2 - 2u), rows alike."""
    batch = images(1)
    half = affine_inverses(torch.zeros(1), torch.zeros(1), torch.full((1,), 0.5), torch.full((1,), 0.5))
    out = pixels(BatchAugment(32, recipe()).apply(batch, with_affine(1, 32, half)))
    torch.testing.assert_close(out[..., 24:], out[..., 16:24].flip(-1), atol=1e-3, rtol=0)
    torch.testing.assert_close(out[..., 24:, :], out[..., 16:24, :].flip(-2), atol=1e-3, rtol=0)
    centre = TF.resize(batch.float(), [16, 16], interpolation=InterpolationMode.BILINEAR, antialias=False)
    torch.testing.assert_close(out[..., 8:24, 8:24], centre, atol=0.05, rtol=0)


def test_a_scale_per_axis_stretches_one_axis_only():
    """x scaled by 2, y by 1: the central half of the columns, resized to the full width."""
    batch = images()
    stretch = affine_inverses(torch.zeros(2), torch.zeros(2), torch.full((2,), 2.0), torch.ones(2))
    out = pixels(BatchAugment(32, recipe()).apply(batch, with_affine(2, 32, stretch)))
    expected = TF.resized_crop(batch.float(), top=0, left=8, height=32, width=16, size=[32, 32],
                               interpolation=InterpolationMode.BILINEAR, antialias=False)
    torch.testing.assert_close(out[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1], atol=0.05, rtol=0)


def test_flips_follow_the_affine():
    """Perez et al. flip after the affine: flipping the output of a rotation is the flip of
    torchvision's rotated image, not the rotation of the flipped one."""
    batch = images()
    turn = affine_inverses(torch.full((2,), 30.0), torch.zeros(2), torch.full((2,), 1.5), torch.full((2,), 1.5))
    out = pixels(BatchAugment(32, recipe()).apply(batch, with_affine(2, 32, turn, hflip=True)))
    expected = TF.horizontal_flip(TF.affine(batch.float(), angle=30.0, translate=[0, 0], scale=1.5, shear=[0.0, 0.0],
                                            interpolation=InterpolationMode.BILINEAR))
    keep = inside(turn[0], 32).flip(-1)
    torch.testing.assert_close(out[..., keep], expected[..., keep], atol=0.05, rtol=0)


def test_the_affine_is_drawn_last_and_only_when_asked_for():
    torch.manual_seed(3)
    plain = BatchAugment(16, recipe(crop_scale=[0.4, 1.0], hflip=0.5)).sample(64, 20, 20)
    torch.manual_seed(3)
    off = BatchAugment(16, recipe(crop_scale=[0.4, 1.0], hflip=0.5, affine={"rotation": 0, "shear": 0,
                                                                             "scale": [1, 1]})).sample(64, 20, 20)
    torch.manual_seed(3)
    on = BatchAugment(16, recipe(crop_scale=[0.4, 1.0], hflip=0.5, affine=PEREZ)).sample(64, 20, 20)
    assert off.affine is None and on.affine.shape == (64, 2, 2)
    for params in (off, on):
        assert torch.equal(params.boxes, plain.boxes) and torch.equal(params.hflip, plain.hflip)
    # rotation within ±90°, shear within ±20°, scales within [0.8, 1.2]: |det| of the forward map
    forward = torch.linalg.inv(on.affine.double())
    determinant = torch.linalg.det(forward).abs()
    assert determinant.min() >= 0.8 ** 2 - 1e-6 and determinant.max() <= 1.2 ** 2 + 1e-6
    assert determinant.std() > 0.05  # each image its own


def test_the_per_image_backend_refuses_the_affine():
    with pytest.raises(ValueError, match="augment.affine: the v2 backend"):
        PerImageAugment(16, recipe(affine=PEREZ))

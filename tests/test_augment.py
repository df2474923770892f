import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torchvision.transforms.v2 import functional as TF

from vitmed.data.augment import (
    _RGB_TO_YIQ,
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentParams,
    BatchAugment,
    BatchEval,
    random_crop_boxes,
)

NO_JITTER = {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0, "p": 1.0}


def augment(size=16, **overrides):
    cfg = {"crop_scale": [1.0, 1.0], "hflip": 0.0, "vflip": 0.0, "color_jitter": dict(NO_JITTER)}
    cfg.update(overrides)
    return BatchAugment(size, cfg)


def denormalize(x):
    return x * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)


def test_crop_boxes_follow_scale_and_stay_inside():
    torch.manual_seed(0)
    boxes = random_crop_boxes(2000, 40, 30, (0.2, 0.6))
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    area = w * h / (40 * 30)
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 30 + 1e-4).all() and (boxes[:, 3] <= 40 + 1e-4).all()
    assert area.max() <= 0.6 + 1e-4 and area.min() > 0.1
    assert abs(area.median().item() - 0.4) < 0.05


def test_constant_image_survives_crop_and_normalization_exactly():
    images = torch.full((4, 3, 24, 24), 128, dtype=torch.uint8)
    out = denormalize(augment(crop_scale=[0.3, 1.0])(images))
    assert out.shape == (4, 3, 16, 16)
    torch.testing.assert_close(out, torch.full_like(out, 128 / 255), atol=1e-5, rtol=0)


def test_flips_are_per_image():
    torch.manual_seed(0)
    images = torch.zeros((64, 3, 16, 16), dtype=torch.uint8)
    images[:, :, :, :8] = 255  # left half bright
    out = denormalize(augment(hflip=0.5)(images))
    left_bright = out[:, 0, :, :8].mean((1, 2)) > out[:, 0, :, 8:].mean((1, 2))
    assert 10 < left_bright.sum() < 54  # some flipped, some not


def test_jitter_changes_images_independently_and_is_seeded():
    images = torch.randint(0, 255, (8, 3, 16, 16), dtype=torch.uint8)
    jitter = {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1, "p": 1.0}
    torch.manual_seed(5)
    a = augment(color_jitter=jitter)(images)
    torch.manual_seed(5)
    b = augment(color_jitter=jitter)(images)
    torch.testing.assert_close(a, b)
    plain = augment()(images)
    ratio = a.mean((1, 2, 3)) - plain.mean((1, 2, 3))
    assert ratio.std() > 0.01  # different factors per image


def test_hue_rotation_keeps_gray_pixels_gray():
    images = torch.full((2, 3, 16, 16), 90, dtype=torch.uint8)
    jitter = dict(NO_JITTER, hue=0.5)
    out = denormalize(augment(color_jitter=jitter)(images))
    torch.testing.assert_close(out, torch.full_like(out, 90 / 255), atol=1e-4, rtol=0)


def test_eval_resize_takes_the_whole_image():
    images = torch.zeros((2, 3, 32, 32), dtype=torch.uint8)
    images[:, :, :16] = 255
    out = denormalize(BatchEval(16, crop="resize")(images))
    assert out.shape == (2, 3, 16, 16)
    assert out[:, :, :7].min() > 0.99 and out[:, :, 9:].max() < 0.01


def test_eval_center_crop_equals_torchvisions_per_image_centre_crop_and_normalization():
    """The default evaluation input: the centre 224 of the 256 image, as a per-image torchvision
    pipeline would make it (here 13 of 20, an odd margin, so the rounding of the offset shows)."""
    from torchvision.transforms import v2

    images = torch.randint(0, 256, (3, 3, 20, 20), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    reference = v2.Compose([v2.CenterCrop(13), v2.ToDtype(torch.float32, scale=True),
                            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    expected = torch.stack([reference(image) for image in images])
    torch.testing.assert_close(BatchEval(13)(images), expected, atol=1e-5, rtol=0)
    assert not torch.allclose(BatchEval(13, crop="resize")(images), expected, atol=1e-2)
    with pytest.raises(ValueError, match="eval_crop: 'corner' is not one of"):
        BatchEval(13, crop="corner")


def test_batched_and_per_image_v2_pipelines_agree_in_distribution():
    """Both backends implement the same augmentation: on the same images the per-channel
    mean and spread of their outputs agree closely."""
    from vitmed.data.augment import make_augment
    cfg = {"crop_scale": [0.35, 1.0], "hflip": 0.5, "vflip": 0.5,
           "color_jitter": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.05, "p": 0.8}}
    gen = torch.Generator().manual_seed(0)
    base = torch.randint(0, 256, (1, 3, 8, 8), generator=gen).float()
    images = torch.nn.functional.interpolate(base, size=24, mode="bilinear").repeat(256, 1, 1, 1).to(torch.uint8)
    torch.manual_seed(1)
    batched = make_augment(16, dict(cfg, backend="batched"))(images)
    torch.manual_seed(1)
    per_image = make_augment(16, dict(cfg, backend="v2"))(images)
    assert batched.shape == per_image.shape == (256, 3, 16, 16)
    torch.testing.assert_close(batched.mean((0, 2, 3)), per_image.mean((0, 2, 3)), atol=0.06, rtol=0)
    torch.testing.assert_close(batched.std((0, 2, 3)), per_image.std((0, 2, 3)), atol=0.08, rtol=0)


def identity_params(n, size, **factors):
    """Whole-image crop at the input size (sample points on the pixel centres), no flips."""
    ones = torch.ones(n)
    values = {"brightness": ones, "contrast": ones, "saturation": ones, "hue": torch.zeros(n)} | factors
    return AugmentParams(torch.tensor([[0.0, 0.0, size, size]]).repeat(n, 1), ones < 0, ones < 0, **values)


@pytest.mark.parametrize("order", [("brightness", "contrast", "saturation"), ("saturation", "brightness", "contrast")])
def test_folded_jitter_equals_torchvision_steps_when_nothing_clips(order):
    """One matrix per image reproduces torchvision's brightness, contrast and saturation, in any
    of its orders, on images whose values stay in range."""
    gen = torch.Generator().manual_seed(3)
    images = torch.randint(90, 160, (6, 3, 16, 16), generator=gen, dtype=torch.uint8)
    factors = {k: 0.85 + 0.3 * torch.rand(6, generator=gen) for k in ("brightness", "contrast", "saturation")}
    out = denormalize(augment(16).apply(images, identity_params(6, 16, **factors)))
    steps = {"brightness": TF.adjust_brightness, "contrast": TF.adjust_contrast, "saturation": TF.adjust_saturation}
    for i in range(6):
        expected = images[i].float() / 255
        for name in order:
            expected = steps[name](expected, factors[name][i].item())
        torch.testing.assert_close(out[i], expected, atol=2e-3, rtol=0)


def test_hue_turns_chroma_by_its_angle_and_keeps_luma():
    gen = torch.Generator().manual_seed(4)
    images = torch.randint(60, 190, (2, 3, 16, 16), generator=gen, dtype=torch.uint8)
    out = denormalize(augment().apply(images, identity_params(2, 16, hue=torch.tensor([0.1, -0.05]))))
    yiq_in = torch.einsum("ij,njhw->nihw", _RGB_TO_YIQ.float(), images.float() / 255)
    yiq_out = torch.einsum("ij,njhw->nihw", _RGB_TO_YIQ.float(), out)
    torch.testing.assert_close(yiq_out[:, 0], yiq_in[:, 0], atol=1e-5, rtol=0)  # luma kept
    angle_in = torch.atan2(yiq_in[:, 2], yiq_in[:, 1])
    turned = torch.remainder(torch.atan2(yiq_out[:, 2], yiq_out[:, 1]) - angle_in + torch.pi, 2 * torch.pi) - torch.pi
    torch.testing.assert_close(turned, torch.tensor([0.2, -0.1]).view(2, 1, 1).expand_as(turned) * torch.pi,
                               atol=1e-4, rtol=0)


def test_jitter_clamps_to_the_valid_range_once():
    images = torch.full((2, 3, 8, 8), 230, dtype=torch.uint8)
    images[1] = 20
    out = denormalize(augment().apply(images, identity_params(2, 8, brightness=torch.tensor([1.3, 1.3]),
                                                              contrast=torch.tensor([0.5, 1.5]))))
    torch.testing.assert_close(out[0], torch.ones_like(out[0]), atol=1e-6, rtol=0)  # 230 * 1.3 > 255
    # a uniform image is its own mean: contrast leaves it; brightness scales it
    torch.testing.assert_close(out[1], torch.full_like(out[1], 26 / 255), atol=1e-6, rtol=0)


def test_crop_box_and_flip_select_the_right_pixels():
    images = torch.arange(64, dtype=torch.uint8).view(1, 1, 8, 8).expand(1, 3, 8, 8) * 3
    params = identity_params(1, 8)
    params.boxes = torch.tensor([[2.0, 4.0, 6.0, 8.0]])  # x 2..6, y 4..8: a 4 x 4 window
    params.hflip = torch.tensor([True])
    out = denormalize(augment(4).apply(images, params))
    expected = images[0, :, 4:8, 2:6].flip(-1).float() / 255
    torch.testing.assert_close(out[0], expected, atol=1e-5, rtol=0)
    for hflip, vflip, dims in ((False, True, [-2]), (True, True, [-2, -1])):  # vertical flips, pixel by pixel
        params.hflip, params.vflip = torch.tensor([hflip]), torch.tensor([vflip])
        out = denormalize(augment(4).apply(images, params))
        torch.testing.assert_close(out[0], images[0, :, 4:8, 2:6].flip(dims).float() / 255, atol=1e-5, rtol=0)


class HostToDevice(TorchDispatchMode):
    """Records the ops that take a CPU tensor and give one on another device."""

    def __init__(self):
        super().__init__()
        self.copies = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        from_host = any(isinstance(a, torch.Tensor) and a.device.type == "cpu" for a in args)
        if from_host and isinstance(out, torch.Tensor) and out.device.type != "cpu":
            self.copies.append(str(func))
        return out


@pytest.mark.parametrize("transform", [
    BatchAugment(16, {"crop_scale": [0.35, 1.0], "hflip": 0.5, "vflip": 0.5,
                      "color_jitter": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.2, "hue": 0.05, "p": 0.8}}),
    BatchAugment(16, {"crop_scale": [0.35, 1.0], "hflip": 0.5, "vflip": 0.5, "color_jitter": dict(NO_JITTER),
                      "affine": {"rotation": 90, "shear": 20, "scale": [0.8, 1.2]}}),  # Perez et al.'s
    BatchAugment(16, {"crop_scale": [0.4, 1.0], "hflip": 0.5, "vflip": 0.0, "grayscale_p": 0.2, "blur_p": 0.5,
                      "solarize_p": 0.5,  # DINO's views: the chosen rows travel in the same copy
                      "color_jitter": {"brightness": 0.4, "contrast": 0.4, "saturation": 0.2, "hue": 0.1, "p": 0.8}}),
    BatchEval(16)])
def test_device_batches_never_wait_for_the_host(transform):
    """On a GPU a value read back (``.item()``, ``.cpu()``) or a blocking copy makes the host wait
    until the device's queue drains. On the meta device any read back raises, and the host's
    random draws and constants go over in exactly one copy (pinned and non-blocking on CUDA)."""
    images = torch.empty((4, 3, 24, 24), dtype=torch.uint8, device="meta")
    with HostToDevice() as transfers:
        out = transform(images)
    assert out.shape == (4, 3, 16, 16) and out.device.type == "meta"
    assert transfers.copies == ["aten._to_copy.default"]


def test_batched_gaussian_blur_equals_torchvisions_per_image_blur():
    """DINO's blur: each image its own sigma (0 leaves it as it is), reflected edges."""
    from torchvision.transforms import v2

    from vitmed.data.augment import blur_kernel_size, gaussian_blur

    images = torch.rand((4, 3, 24, 20), generator=torch.Generator().manual_seed(0)) * 255
    sigma = torch.tensor([0.1, 0.7, 2.0, 0.0])
    size = blur_kernel_size(2.0)
    assert size == 13
    ours = gaussian_blur(images, sigma, size)
    for image, s, out in zip(images[:3], sigma[:3], ours[:3]):
        torch.testing.assert_close(out, v2.functional.gaussian_blur(image, [size, size], [float(s), float(s)]),
                                   atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(ours[3], images[3])
    assert (ours[2] - images[2]).abs().mean() > 5  # a 2-pixel blur of noise changes it a lot


def full_image_params(n, size, **extra):
    """No crop, flip or jitter: the image itself, so that one operation can be checked alone."""
    ones, zeros = torch.ones(n), torch.zeros(n)
    return AugmentParams(torch.tensor([[0.0, 0.0, size, size]] * n), zeros.bool(), zeros.bool(), ones, ones, ones,
                         zeros, **extra)


def test_solarization_and_grayscale_equal_torchvisions_per_image_functions():
    from torchvision.transforms import v2

    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    cfg = {"crop_scale": [1.0, 1.0], "hflip": 0.0, "vflip": 0.0, "color_jitter": dict(NO_JITTER, p=0.0),
           "solarize_p": 0.5, "grayscale_p": 0.5}
    augment = BatchAugment(16, cfg)
    chosen = torch.tensor([True, False, True, False])
    solarized = denormalize(augment.apply(images, full_image_params(4, 16, solarize=chosen)))
    for image, flag, out in zip(images, chosen, solarized):
        expected = v2.functional.solarize(image, 128) if flag else image
        torch.testing.assert_close(out, expected.float() / 255, atol=1e-5, rtol=0)
    gray = denormalize(augment.apply(images, full_image_params(4, 16, gray=chosen)))
    for image, flag, out in zip(images, chosen, gray):
        expected = v2.functional.rgb_to_grayscale(image.float(), num_output_channels=3) if flag else image.float()
        torch.testing.assert_close(out, expected / 255, atol=2e-4, rtol=0)  # luma weights 0.299 vs 0.2989


def test_dino_views_draw_their_own_operations_and_leave_the_fine_tuning_draws_alone():
    from vitmed.data.augment import make_augment

    base = {"crop_scale": [0.35, 1.0], "hflip": 0.5, "vflip": 0.5,
            "color_jitter": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.05, "p": 0.8}}
    torch.manual_seed(3)
    plain = make_augment(16, base).sample(64, 24, 24)
    torch.manual_seed(3)
    dino = make_augment(16, dict(base, grayscale_p=0.2, blur_p=1.0, blur_sigma=[0.1, 2.0], solarize_p=0.2))
    drawn = dino.sample(64, 24, 24)
    for field in ("boxes", "hflip", "vflip", "brightness", "contrast", "saturation", "hue"):
        assert torch.equal(getattr(plain, field), getattr(drawn, field)), field
    assert plain.gray is None and plain.blur_sigma is None and plain.solarize is None
    assert drawn.blur_sigma.min() >= 0.1 and drawn.blur_sigma.max() <= 2.0  # p = 1: every image blurred
    assert 0 < drawn.gray.sum() < 64 and 0 < drawn.solarize.sum() < 64
    images = torch.randint(0, 256, (64, 3, 24, 24), dtype=torch.uint8)
    out = dino.apply(images, drawn)
    assert out.shape == (64, 3, 16, 16) and torch.isfinite(out).all()

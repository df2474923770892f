"""Seeded generators of offline stand-ins for the paper's five tasks and for ImageNet.

Each task mirrors the real one in task type, channel count and class structure, and puts
the label in the image through class-dependent shape, texture, colour or counts. Noise and
overlapping class distributions keep every task from being trivial: a model that learns
beats chance, one that does not stays at chance.

A generator returns ``images`` (N, H, W, C) uint8, ``labels`` (N,) int or (N, L) {0,1}, or for
segmentation (N, H, W) uint8 masks of class indices, ``groups`` (N,) str or None, and the class
names.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter


@dataclass(frozen=True)
class SyntheticSet:
    images: np.ndarray
    labels: np.ndarray
    groups: np.ndarray | None
    classes: list[str]
    task: str  # "multiclass" | "binary" | "multilabel" | "segmentation"
    metadata: dict[str, np.ndarray] = field(default_factory=dict)  # per-image patient columns (age, sex)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return yy, xx


def _blob(size: int, cy: float, cx: float, ry: float, rx: float, angle: float = 0.0,
          wobble: np.ndarray | None = None) -> np.ndarray:
    """Soft ellipse mask in [0, 1]; ``wobble`` (k,) makes the border irregular."""
    yy, xx = _grid(size)
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy
    r = np.sqrt((u / rx) ** 2 + (v / ry) ** 2)
    if wobble is not None:
        theta = np.arctan2(v, u)
        k = np.arange(1, len(wobble) + 1)[:, None, None]
        r = r * (1.0 + np.sum(wobble[:, None, None] * np.cos(k * theta[None] * 3), axis=0))
    return np.clip(1.5 - r * 1.5, 0.0, 1.0) ** 0.7


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float, channels: int = 1) -> np.ndarray:
    noise = rng.standard_normal((size, size, channels)).astype(np.float32)
    out = gaussian_filter(noise, sigma=(sigma, sigma, 0))
    return out / (out.std() + 1e-6)


def _to_uint8(img: np.ndarray, rng: np.random.Generator, pixel_noise: float) -> np.ndarray:
    img = img + pixel_noise * rng.standard_normal(img.shape).astype(np.float32)
    return np.clip(img * 255.0, 0, 255).astype(np.uint8)


def fundus_grades(n: int, size: int, seed: int) -> SyntheticSet:
    """APTOS2019-like: 5 ordinal grades; the grade sets the expected number of dark-red
    haemorrhage spots and bright exudates on an orange fundus disk (Poisson counts overlap)."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(5, size=n, p=[0.49, 0.10, 0.27, 0.05, 0.09])  # APTOS2019 class frequencies
    images = np.empty((n, size, size, 3), np.uint8)
    for i, grade in enumerate(labels):
        base = np.array([0.75, 0.35, 0.15], np.float32) * rng.uniform(0.8, 1.1)
        disk = _blob(size, size / 2, size / 2, size * 0.46, size * 0.46)
        img = disk[..., None] * base + 0.04 * _smooth_noise(rng, size, 2, 3)
        for _ in range(rng.poisson(0.4 + 2.2 * grade)):
            cy, cx = rng.uniform(0.2, 0.8, 2) * size
            r = rng.uniform(0.6, 1.6) * size / 24
            spot = _blob(size, cy, cx, r * 1.5, r * 1.5)[..., None]
            colour = np.array([0.35, 0.05, 0.05]) if rng.random() < 0.7 else np.array([1.0, 0.95, 0.55])
            img = img * (1 - spot) + spot * colour
        images[i] = _to_uint8(img, rng, 0.03)
    return SyntheticSet(images, labels, None, [f"grade{g}" for g in range(5)], "multiclass")


def _breast(rng: np.random.Generator, size: int, density: tuple[float, float]) -> np.ndarray:
    """A grayscale breast seen from the side: fibro-glandular texture of random density."""
    breast = _blob(size, size / 2, size * 0.15, size * 0.6, size * 0.7)
    return breast * (0.35 + rng.uniform(*density) * (0.5 + 0.5 * _smooth_noise(rng, size, 1.5)[..., 0]))


def _mass(rng: np.random.Generator, size: int, *, radius: tuple[float, float], across: float, wobble: float,
          contrast: tuple[float, float]) -> tuple[np.ndarray, float]:
    """An irregular mass (soft map in [0, 1]) somewhere in the breast, and its brightness."""
    r = rng.uniform(*radius) * size
    cy, cx = rng.uniform(0.25, 0.75) * size, rng.uniform(0.1, across) * size
    mass = _blob(size, cy, cx, r, r * rng.uniform(0.7, 1.3), rng.uniform(0, np.pi), wobble=rng.uniform(0, wobble, 3))
    return mass, rng.uniform(*contrast)


def mammo_mass(n: int, size: int, seed: int) -> SyntheticSet:
    """CBIS-DDSM-like grayscale: positives hold a brighter, irregular mass of varying
    contrast in fibro-glandular texture; dense tissue can hide faint masses."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.45).astype(np.int64)
    n_patients = max(1, n // 2)
    groups = np.array([f"P{p:05d}" for p in rng.integers(0, n_patients, n)])
    images = np.empty((n, size, size, 1), np.uint8)
    for i, y in enumerate(labels):
        img = _breast(rng, size, (0.15, 0.45))
        if y == 1:
            mass, contrast = _mass(rng, size, radius=(0.07, 0.14), across=0.5, wobble=0.15, contrast=(0.18, 0.4))
            img = img + mass * contrast
        images[i] = _to_uint8(img[..., None], rng, 0.05)
    return SyntheticSet(images, labels, groups, ["no_mass", "mass"], "binary")


_LESION_HUES = np.array([[0.45, 0.28, 0.18], [0.25, 0.15, 0.12], [0.65, 0.35, 0.30],
                         [0.55, 0.45, 0.40]], np.float32)


def skin_lesions(n: int, size: int, seed: int) -> SyntheticSet:
    """ISIC2019-like: 8 imbalanced lesion classes = 4 pigment colours x {regular, irregular}
    border, with per-image jitter of colour, size and skin tone so classes overlap."""
    rng = np.random.default_rng(seed)
    freq = np.array([0.18, 0.51, 0.13, 0.03, 0.10, 0.01, 0.01, 0.03])  # ISIC2019 MEL NV BCC AK BKL DF VASC SCC
    labels = rng.choice(8, size=n, p=freq / freq.sum())
    n_lesions = max(1, int(n * 0.7))
    groups = np.array([f"L{p:06d}" for p in rng.integers(0, n_lesions, n)])
    images = np.empty((n, size, size, 3), np.uint8)
    for i, y in enumerate(labels):
        skin = np.array([0.85, 0.68, 0.58], np.float32) * rng.uniform(0.85, 1.05)
        img = np.ones((size, size, 3), np.float32) * skin + 0.03 * _smooth_noise(rng, size, 3, 3)
        irregular = y % 2 == 1
        wobble = rng.uniform(0.12, 0.3, 3) if irregular else rng.uniform(0, 0.06, 3)
        r = rng.uniform(0.18, 0.32) * size
        mask = _blob(size, size / 2 + rng.normal(0, 2), size / 2 + rng.normal(0, 2), r,
                     r * rng.uniform(0.75, 1.0), rng.uniform(0, np.pi), wobble)[..., None]
        colour = _LESION_HUES[y // 2] + rng.normal(0, 0.06, 3).astype(np.float32)
        texture = 1 + 0.15 * _smooth_noise(rng, size, 1.0, 1)
        img = img * (1 - mask) + mask * colour * texture
        images[i] = _to_uint8(img, rng, 0.03)
    classes = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"]
    return SyntheticSet(images, labels, groups, classes, "multiclass")


CHEXPERT_OBSERVATIONS = [
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
    "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
    "Pleural Other", "Fracture", "Support Devices"]


def chest_findings(n: int, size: int, seed: int) -> SyntheticSet:
    """CheXpert-like grayscale multi-label: each of 14 findings appears independently and
    draws a faint blob of finding-specific shape in its own region of the chest."""
    rng = np.random.default_rng(seed)
    prevalence = np.linspace(0.12, 0.4, 14)
    labels = (rng.random((n, 14)) < prevalence).astype(np.int64)
    groups = np.array([f"patient{p:05d}" for p in rng.integers(0, max(1, n // 3), n)])
    zones = [(0.2 + 0.2 * (k // 4), 0.2 + 0.2 * (k % 4)) for k in range(14)]
    images = np.empty((n, size, size, 1), np.uint8)
    for i in range(n):
        lungs = _blob(size, size * 0.5, size * 0.3, size * 0.35, size * 0.17) + \
            _blob(size, size * 0.5, size * 0.7, size * 0.35, size * 0.17)
        img = 0.55 - 0.3 * lungs + 0.06 * _smooth_noise(rng, size, 2)[..., 0]
        for k in np.flatnonzero(labels[i]):
            cy, cx = (np.array(zones[k]) + rng.normal(0, 0.03, 2)) * size
            ry = size * (0.06 + 0.03 * (k % 3))
            rx = size * (0.06 + 0.03 * (k % 2))
            img = img + _blob(size, cy, cx, ry, rx, k * 0.4) * rng.uniform(0.15, 0.4)
        images[i] = _to_uint8(img[..., None], rng, 0.05)
    return SyntheticSet(images, labels, groups, list(CHEXPERT_OBSERVATIONS), "multilabel")


# H&E stain colours (RGB: eosin, haematoxylin) of the two synthetic sites. The second stains
# with less contrast, paler nuclei on darker tissue, as slides from another hospital's protocol
# and scanner (Camelyon17's shift): a linear model on generic features trained at the first
# site loses ROC-AUC there (0.98 -> 0.94) while one trained there reaches 0.98.
_STAINS = {"main": ([0.93, 0.70, 0.82], [0.35, 0.20, 0.55]),
           "other_site": ([0.90, 0.62, 0.78], [0.55, 0.40, 0.68])}


def lymph_patches(n: int, size: int, seed: int, site: str = "main") -> SyntheticSet:
    """PatchCamelyon-like H&E patches: tumour patches have larger, darker, denser nuclei."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.5).astype(np.int64)
    images = np.empty((n, size, size, 3), np.uint8)
    eosin, haem = (np.array(colour, np.float32) for colour in _STAINS[site])
    for i, y in enumerate(labels):
        img = np.ones((size, size, 3), np.float32) * eosin + 0.05 * _smooth_noise(rng, size, 1.5, 3)
        count = rng.poisson(10 + 8 * y)
        scale = size / 32 * (1.0 + 0.5 * y * rng.uniform(0.3, 1.0))
        for _ in range(count):
            cy, cx = rng.uniform(0, size, 2)
            r = rng.uniform(0.8, 1.6) * scale
            nucleus = _blob(size, cy, cx, r, r * rng.uniform(0.6, 1.0), rng.uniform(0, np.pi))[..., None]
            img = img * (1 - nucleus) + nucleus * haem * rng.uniform(0.8, 1.2)
        images[i] = _to_uint8(img, rng, 0.04)
    return SyntheticSet(images, labels, None, ["normal", "tumour"], "binary")

_SHAPES = ["disk", "bar", "ring", "cross"]
_TEXTURES = ["flat", "stripes", "checker", "speckle"]


def source_objects(n: int, size: int, seed: int) -> SyntheticSet:
    """ImageNet stand-in: 16 classes = 4 object shapes x 4 surface textures, each object
    in a random colour, scale, pose and position on a cluttered random background."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 16, n)
    yy, xx = _grid(size)
    images = np.empty((n, size, size, 3), np.uint8)
    for i, y in enumerate(labels):
        shape, texture = _SHAPES[y // 4], _TEXTURES[y % 4]
        img = rng.uniform(0.2, 0.8, 3).astype(np.float32) + 0.15 * _smooth_noise(rng, size, 3, 3)
        for _ in range(rng.integers(0, 3)):  # distractors
            d = _blob(size, *rng.uniform(0, size, 2), *rng.uniform(2, size / 6, 2))[..., None]
            img = img * (1 - d) + d * rng.uniform(0, 1, 3)
        cy, cx = rng.uniform(0.3, 0.7, 2) * size
        r = rng.uniform(0.2, 0.35) * size
        angle = rng.uniform(0, np.pi)
        if shape == "disk":
            mask = _blob(size, cy, cx, r, r)
        elif shape == "bar":
            mask = _blob(size, cy, cx, r * 0.3, r * 1.2, angle)
        elif shape == "ring":
            mask = np.clip(_blob(size, cy, cx, r, r) - _blob(size, cy, cx, r * 0.55, r * 0.55), 0, 1)
        else:
            mask = np.maximum(_blob(size, cy, cx, r * 0.25, r, angle),
                              _blob(size, cy, cx, r * 0.25, r, angle + np.pi / 2))
        period = rng.uniform(3, 6) * size / 48
        if texture == "flat":
            pattern = np.ones_like(xx)
        elif texture == "stripes":
            pattern = 0.5 + 0.5 * np.sign(np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / period * np.pi))
        elif texture == "checker":
            pattern = ((np.floor(xx / period) + np.floor(yy / period)) % 2).astype(np.float32)
        else:
            pattern = (rng.random((size, size)) < 0.35).astype(np.float32)
        c1, c2 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        surface = pattern[..., None] * c1 + (1 - pattern[..., None]) * c2 * 0.3
        img = img * (1 - mask[..., None]) + mask[..., None] * surface
        images[i] = _to_uint8(img, rng, 0.03)
    classes = [f"{s}_{t}" for s in _SHAPES for t in _TEXTURES]
    return SyntheticSet(images, labels, None, classes, "multiclass")


def lesion_masks(n: int, size: int, seed: int) -> SyntheticSet:
    """ISIC 2018 Task 1-like: one pigmented lesion of irregular border, varied colour, size and
    position on textured skin, with its binary mask (the lesion where its soft map passes one
    half). Faint lesions, dark hair-like streaks and pixel noise keep the border uncertain."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.empty((n, size, size), np.uint8)
    yy, xx = _grid(size)
    for i in range(n):
        skin = np.array([0.85, 0.68, 0.58], np.float32) * rng.uniform(0.8, 1.05)
        img = np.ones((size, size, 3), np.float32) * skin + 0.04 * _smooth_noise(rng, size, 2, 3)
        r = rng.uniform(0.2, 0.4) * size  # lesions cover about a fifth of an ISIC 2018 image
        cy, cx = rng.uniform(0.35, 0.65, 2) * size
        lesion = _blob(size, cy, cx, r, r * rng.uniform(0.6, 1.0), rng.uniform(0, np.pi),
                       wobble=rng.uniform(0.02, 0.2, 3))
        colour = _LESION_HUES[rng.integers(4)] + rng.normal(0, 0.05, 3).astype(np.float32)
        strength = rng.uniform(0.45, 1.0)  # faint lesions blend into the skin
        alpha = (lesion * strength)[..., None]
        img = img * (1 - alpha) + alpha * colour * (1 + 0.15 * _smooth_noise(rng, size, 1.0, 1))
        for _ in range(rng.poisson(1.5)):  # hairs: thin dark lines across lesion and skin
            angle, offset = rng.uniform(0, np.pi), rng.uniform(-0.5, 0.5) * size
            line = np.abs((xx - size / 2) * np.sin(angle) - (yy - size / 2) * np.cos(angle) - offset)
            hair = np.clip(1.0 - line / 0.8, 0, 1)[..., None]
            img = img * (1 - 0.7 * hair) + 0.7 * hair * np.array([0.15, 0.1, 0.08], np.float32)
        images[i] = _to_uint8(img, rng, 0.04)
        masks[i] = lesion > 0.5
    return SyntheticSet(images, masks, None, ["background", "lesion"], "segmentation")


LESION_CLASSES = ["nevus", "melanoma", "other"]
_PATCH_COLOURS = np.array([[0.1, 0.75, 0.2], [0.1, 0.3, 0.9], [0.8, 0.1, 0.8]], np.float32)  # green, blue, magenta


def lesion_classes(n: int, size: int, seed: int) -> SyntheticSet:
    """Piater et al.'s ISIC task (nevus / melanoma / other) with the biases their feature-usage
    analysis looks for, planted where the answer is known. The classes overlap: nevi tend to be
    regular and brown, melanomas irregular, darker and (half of them) with a blue-black blotch,
    others lighter and redder; skin tones vary. A colourful patch (a saturated disc in a corner, as
    the stickers of Scope et al. 2016) is on 80 % of the nevi and 5 % of the others: a shortcut a
    model learns, so its prediction depends on the patch given the label. ``age`` depends on the
    label only (older for melanoma and other) and ``sex`` on nothing: given the label, neither can
    inform a prediction."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n, p=[0.51, 0.18, 0.31])  # ISIC 2019's NV / MEL / the rest
    images = np.empty((n, size, size, 3), np.uint8)
    for i, y in enumerate(labels):
        skin = np.array([0.85, 0.68, 0.58], np.float32) * rng.uniform(0.55, 1.05)
        img = np.ones((size, size, 3), np.float32) * skin + 0.03 * _smooth_noise(rng, size, 3, 3)
        wobble = rng.uniform(*[(0.0, 0.12), (0.06, 0.22), (0.03, 0.15)][y], 3)
        r = rng.uniform(0.2, 0.3) * size
        lesion = _blob(size, size / 2 + rng.normal(0, 2), size / 2 + rng.normal(0, 2), r, r * rng.uniform(0.7, 1.0),
                       rng.uniform(0, np.pi), wobble)[..., None]
        colour = np.array([[0.45, 0.28, 0.18], [0.38, 0.22, 0.16], [0.55, 0.32, 0.25]][y], np.float32)
        img = img * (1 - lesion) + lesion * (colour + rng.normal(0, 0.06, 3).astype(np.float32))
        if y == 1 and rng.random() < 0.5:  # a dark blue-black blotch inside the melanoma
            cy, cx = size / 2 + rng.normal(0, r / 3, 2)
            blotch = _blob(size, cy, cx, r / 2.5, r / 3, rng.uniform(0, np.pi))[..., None] * lesion
            img = img * (1 - blotch) + blotch * np.array([0.1, 0.1, 0.2], np.float32)
        if rng.random() < (0.8 if y == 0 else 0.05):
            cy, cx = rng.choice([0.12, 0.88], 2) * size
            patch = _blob(size, cy, cx, size / 10, size / 10)[..., None]
            img = img * (1 - patch) + patch * _PATCH_COLOURS[rng.integers(3)]
        images[i] = _to_uint8(img, rng, 0.03)
    age = np.clip(np.round(rng.normal(np.array([40.0, 62.0, 68.0])[labels], 12.0) / 5) * 5, 5, 85)
    sex = np.where(rng.random(n) < 0.5, "male", "female").astype(object)
    sex[rng.random(n) < 0.03] = None  # as in ISIC's metadata, some patients' sex is not given
    return SyntheticSet(images, labels, None, list(LESION_CLASSES), "multiclass", {"age": age, "sex": sex})


def mass_masks(n: int, size: int, seed: int) -> SyntheticSet:
    """CSAW-S-like grayscale mammograms: a small, faint, irregular tumour mass in dense
    fibro-glandular texture, with its binary mask; several images per patient. Small targets
    in bright tissue keep the IoU low, as on CSAW-S."""
    rng = np.random.default_rng(seed)
    groups = np.array([f"P{p:04d}" for p in rng.integers(0, max(1, n // 2), n)])
    images = np.empty((n, size, size, 1), np.uint8)
    masks = np.empty((n, size, size), np.uint8)
    for i in range(n):
        img = _breast(rng, size, (0.2, 0.5))
        mass, contrast = _mass(rng, size, radius=(0.1, 0.17), across=0.45, wobble=0.2, contrast=(0.25, 0.45))
        img = img + mass * contrast
        images[i] = _to_uint8(img[..., None], rng, 0.05)
        masks[i] = mass > 0.5
    return SyntheticSet(images, masks, groups, ["background", "mass"], "segmentation")


GENERATORS = {
    "fundus_grades": fundus_grades,
    "mammo_mass": mammo_mass,
    "skin_lesions": skin_lesions,
    "chest_findings": chest_findings,
    "lymph_patches": lymph_patches,
    # the same task from another site: an out-of-distribution test set for lymph_patches models
    "lymph_patches_other_site": lambda n, size, seed: lymph_patches(n, size, seed, site="other_site"),
    "source_objects": source_objects,
    "lesion_masks": lesion_masks,
    "lesion_classes": lesion_classes,
    "mass_masks": mass_masks,
}


def generate(name: str, n: int, size: int, seed: int) -> SyntheticSet:
    if name not in GENERATORS:
        raise ValueError(f"unknown synthetic generator {name!r}; known: {sorted(GENERATORS)}")
    return GENERATORS[name](n, size, seed)

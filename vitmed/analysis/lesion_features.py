"""The eight features of Reimers et al. 2021's feature-usage analysis of skin-lesion classifiers,
per image (Piater et al.'s Table 3): the ABCD rule's Asymmetry, Border irregularity, Color and
Dermoscopic structures, and the biases age, sex, skin colour and large colourful patches.

The lesion comes from a mask (a segmentation model's prediction or the dataset's own); the
definitions follow the ABCD rule (Nachbar et al. 1994) where Reimers et al. leave the formula
open, and each choice is named in the README's deviations table:
- asymmetry: the lesion mirrored about each of its two principal axes; the area of the symmetric
  difference over the lesion's area, mean of the two axes (0 = symmetric);
- border irregularity: the compactness index P² / (4πA) of the lesion's outline (1 = a disc);
- colour: how many of the rule's six colours (white, red, light brown, dark brown, blue-grey,
  black; reference RGB values of Kasmi and Mokrani 2016) are the nearest colour of at least 5 %
  of the lesion's pixels;
- dermoscopic structures: how many of ISIC 2018 Task 2's five attributes (pigment network,
  negative network, streaks, milia-like cysts, globules) the image's attribute masks hold; only
  images with those masks have the feature;
- age and sex: the dataset's metadata (ISIC 2019's ``age_approx`` and ``sex``; male = 1);
- skin colour: the individual typology angle ITA = arctan((L* - 50) / b*) of the mean CIELAB
  colour of the skin (outside the lesion dilated by 5 % of the image side; the black vignette of
  dermoscopes, L* < 10, excluded);
- colourful patches: a connected region outside the lesion of saturated hues skin and lesions do
  not have (hue 60-300°, saturation > 0.5, value > 0.3) covering at least 0.5 % of the image.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy.ndimage import affine_transform, binary_dilation

log = logging.getLogger(__name__)

FEATURES = ("asymmetry", "border", "color", "dermoscopic_structures", "age", "sex", "skin_color",
            "colorful_patches")
# the paper's column headers
FEATURE_LABELS = {"asymmetry": "A", "border": "B", "color": "C", "dermoscopic_structures": "D", "age": "Age",
                  "sex": "Sex", "skin_color": "Skin color", "colorful_patches": "Colorful patches"}
MASK_FEATURES = ("asymmetry", "border", "color", "skin_color", "colorful_patches")

# the ABCD rule's six colours, RGB in [0, 1] (Kasmi and Mokrani 2016, Table 2)
ABCD_COLOURS = {"white": (1.0, 1.0, 1.0), "red": (0.8, 0.2, 0.2), "light brown": (0.6, 0.4, 0.0),
                "dark brown": (0.2, 0.0, 0.0), "blue-grey": (0.2, 0.6, 0.6), "black": (0.0, 0.0, 0.0)}
COLOUR_SHARE = 0.05
# ISIC 2018 Task 2's attributes: <image>_attribute_<name>.png, 0 / 255 masks
DERMOSCOPIC_ATTRIBUTES = ("pigment_network", "negative_network", "streaks", "milia_like_cyst", "globules")
SKIN_MARGIN = 0.05
VIGNETTE_LIGHTNESS = 10.0
PATCH_HUE = (60.0, 300.0)
PATCH_SATURATION, PATCH_VALUE, PATCH_AREA = 0.5, 0.3, 0.005


def largest_region(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected foreground region of a binary mask (all False if none)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(mask.shape, bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def asymmetry(mask: np.ndarray) -> float:
    """Mean over the two principal axes of |lesion Δ mirrored lesion| / |lesion|."""
    points = np.argwhere(mask).astype(np.float64)
    if len(points) < 3:
        return float("nan")
    centre = points.mean(axis=0)
    _, axes = np.linalg.eigh(np.cov(points.T))
    scores = []
    for axis in axes.T:
        mirror = 2.0 * np.outer(axis, axis) - np.eye(2)  # reflection about the axis through the centre
        mirrored = affine_transform(mask.astype(np.uint8), mirror, offset=centre - mirror @ centre, order=0) > 0
        scores.append(np.logical_xor(mask, mirrored).sum() / mask.sum())
    return float(np.mean(scores))


def border_irregularity(mask: np.ndarray) -> float:
    """Compactness index P² / (4πA) of the lesion's outer contour."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return float("nan")
    contour = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(contour)
    if area <= 0:
        return float("nan")
    return float(cv2.arcLength(contour, True) ** 2 / (4 * np.pi * area))


def colour_count(image: np.ndarray, mask: np.ndarray, min_share: float = COLOUR_SHARE) -> float:
    """How many ABCD colours are the nearest of at least ``min_share`` of the lesion's pixels."""
    pixels = image[mask].astype(np.float64) / 255.0
    if not len(pixels):
        return float("nan")
    references = np.array(list(ABCD_COLOURS.values()))
    nearest = np.linalg.norm(pixels[:, None, :] - references[None], axis=2).argmin(axis=1)
    shares = np.bincount(nearest, minlength=len(references)) / len(pixels)
    return float((shares >= min_share).sum())


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)  # L* 0-100, a*, b*


def _dilated(mask: np.ndarray, fraction: float) -> np.ndarray:
    radius = max(1, round(fraction * max(mask.shape)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)) > 0
    return binary_dilation(mask, structure=disc)


def individual_typology_angle(image: np.ndarray, mask: np.ndarray) -> float:
    """ITA in degrees of the mean CIELAB colour of the skin around the lesion."""
    lab = _lab(image)
    skin = ~_dilated(mask, SKIN_MARGIN) & (lab[..., 0] >= VIGNETTE_LIGHTNESS)
    if not skin.any():
        return float("nan")
    lightness, yellow = lab[..., 0][skin].mean(), lab[..., 2][skin].mean()
    return float(np.degrees(np.arctan2(lightness - 50.0, yellow)))


def colourful_patch(image: np.ndarray, mask: np.ndarray) -> float:
    """1 if a saturated region of a non-skin hue covers at least ``PATCH_AREA`` of the image
    outside the lesion, else 0."""
    hsv = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)  # H 0-360, S, V 0-1
    hue, saturation, value = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    colourful = ((hue >= PATCH_HUE[0]) & (hue <= PATCH_HUE[1]) & (saturation > PATCH_SATURATION)
                 & (value > PATCH_VALUE) & ~mask)
    return float(largest_region(colourful).sum() >= PATCH_AREA * mask.size)


def dermoscopic_structures(attribute_dir: str | Path | None, sample_id: str) -> float:
    """How many of the five ISIC 2018 Task 2 attributes the image's masks hold; NaN when the
    image has no attribute masks (or no folder is given)."""
    if attribute_dir is None:
        return float("nan")
    paths = [Path(attribute_dir) / f"{sample_id}_attribute_{name}.png" for name in DERMOSCOPIC_ATTRIBUTES]
    present = [p.exists() for p in paths]
    if not any(present):
        return float("nan")
    if not all(present):
        missing = paths[present.index(False)]
        raise FileNotFoundError(f"{missing}: image {sample_id} has some ISIC 2018 Task 2 attribute masks but not "
                                f"this one (all five are published per image)")
    return float(sum(bool(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).any()) for p in paths))


def sex_code(values: pd.Series) -> np.ndarray:
    """male = 1, female = 0, missing = NaN; any other value is an error naming it."""
    text = values.astype("string").str.strip().str.lower().fillna("")
    known = text.isin(["male", "female", ""])
    if not known.all():
        raise ValueError(f"sex: expected 'male', 'female' or empty, got {text[~known].iloc[0]!r}")
    return np.select([text == "male", text == "female"], [1.0, 0.0], np.nan).astype(np.float64)


def image_features(image: np.ndarray, lesion: np.ndarray) -> dict[str, float]:
    """The features one image and its lesion mask give (NaN for the lesion's where the mask is empty)."""
    lesion = largest_region(lesion)
    if not lesion.any():
        return {name: float("nan") for name in MASK_FEATURES}
    return {"asymmetry": asymmetry(lesion), "border": border_irregularity(lesion),
            "color": colour_count(image, lesion), "skin_color": individual_typology_angle(image, lesion),
            "colorful_patches": colourful_patch(image, lesion)}


def lesion_feature_table(images: np.ndarray, masks: np.ndarray, index: pd.DataFrame,
                         attribute_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per image of ``index`` (its ``store_row`` selects from ``images`` / ``masks``;
    ``age`` and ``sex`` columns where the dataset has them): sample_id, store_row and the eight
    features, NaN where an image lacks one (an empty lesion mask, no metadata, no Task 2 masks);
    the count of each is logged."""
    rows = [image_features(images[row], masks[row] > 0) for row in index["store_row"]]
    table = pd.DataFrame(rows, columns=list(MASK_FEATURES))
    table.insert(0, "sample_id", index["sample_id"].to_numpy())
    table.insert(1, "store_row", index["store_row"].to_numpy())
    table["dermoscopic_structures"] = [dermoscopic_structures(attribute_dir, s) for s in index["sample_id"]]
    table["age"] = (pd.to_numeric(index["age"], errors="raise").to_numpy(np.float64) if "age" in index
                    else np.nan)
    table["sex"] = sex_code(index["sex"]) if "sex" in index else np.nan
    for name in FEATURES:
        missing = int(table[name].isna().sum())
        if missing:
            log.info("%s: %d of %d images lack it", name, missing, len(table))
    return table[["sample_id", "store_row", *FEATURES]]

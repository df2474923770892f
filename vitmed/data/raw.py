"""The raw-table interface between dataset adapters and the standardized store.

Every adapter (synthetic, APTOS2019, ISIC2019, ...) turns a publisher's raw layout into a
``RawTable``: one row per image with ``sample_id``, ``group_id`` (patient/lesion or None),
``path`` (image file) and the label column(s). The store builder never sees the layouts.

Where a row came from: adapters that pool several manifests (CBIS-DDSM's four CSVs, CheXpert's
train.csv and valid.csv, PatchCamelyon's three h5 files) or filter one add ``source`` (the
manifest file) and ``source_row`` (its data row: 1 = the first row after a CSV's header, or the
first entry of an array file); errors and skip records then name that file and row and the
sample id (``locate``). Without them, the row counts through the table itself.

Segmentation tables (task ``segmentation``) have no label column: ``read_mask(row)`` returns the
row's mask as an (H, W) uint8 map of class indices, its values checked against the publisher's
documented set (``binary_mask``), and the store checks that it has its image's size.

The synthetic study writes its raw data in the plain layout ``labels.csv`` + ``images/`` (and
``masks/<id>.png``, 0 or 255, for segmentation, as ISIC 2018's), so that ``prepare`` decodes
real image files exactly as it does for downloaded datasets.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from vitmed.data.synthetic import SyntheticSet
from vitmed.jobs.io import atomic_path, write_json

TASKS = ("binary", "multiclass", "multilabel", "segmentation")
MASK_FOREGROUND = 255  # a binary mask file's lesion value (ISIC 2018's, and the plain layout's)
# A multi-label entry that is neither positive nor negative (CheXpert's uncertain labels under
# the U-ignore policy): left out of the loss, the k-NN votes and that label's metric.
IGNORED = -1


def at_row(manifest: str | Path, index: int, sample_id=None) -> str:
    """'<file> data row <n> (<sample id>)' for the 0-based ``index`` of a manifest's data rows:
    the one convention of every adapter and store error (n counts from 1 after a CSV's header,
    or from an array file's first entry)."""
    return f"{manifest} data row {index + 1}" + (f" ({sample_id})" if sample_id is not None else "")


def locate(frame: pd.DataFrame, row: int, manifest: str) -> str:
    """Where row ``row`` of a raw table came from: its ``source`` file and ``source_row`` where
    the adapter recorded them, else ``manifest`` and the table's own row."""
    record = frame.iloc[row]
    if "source" in frame.columns:
        return at_row(record["source"], int(record["source_row"]) - 1, record["sample_id"])
    return at_row(manifest, row, record["sample_id"])


@dataclass
class RawTable:
    frame: pd.DataFrame          # sample_id, group_id, path, *label_columns
    label_columns: list[str]     # ["label"] for (multi)class/binary, one per class for multilabel
    classes: list[str]
    task: str
    channels: int                # 1 = grayscale, 3 = RGB
    # array datasets (PatchCamelyon h5, MedMNIST npz): row -> (H, W[, C]) uint8, read in place
    # instead of one file per image; ``path`` then names the array and row for error messages
    pixels: Callable[[int], np.ndarray] | None = None
    # segmentation: row -> (H, W) uint8 class-index mask at the image's own size
    read_mask: Callable[[int], np.ndarray] | None = None
    # patient metadata carried into the store's index (ISIC 2019: age, sex), for the
    # feature-usage analysis (vitmed.analysis.lesion_features)
    metadata_columns: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if (self.task == "segmentation") != (self.read_mask is not None):
            raise ValueError("a segmentation table needs read_mask, and only a segmentation table has one")
        missing = ({"sample_id", "group_id", "path", *self.label_columns, *self.metadata_columns}
                   - set(self.frame.columns))
        if missing:
            raise ValueError(f"raw table lacks columns {sorted(missing)}")
        dup = self.frame["sample_id"].duplicated()
        if dup.any():
            raise ValueError(f"duplicate sample_id {self.frame.loc[dup, 'sample_id'].iloc[0]!r}")


def read_mask_file(path: str | Path) -> np.ndarray:
    """One single-channel mask file as uint8; a missing or undecodable one is an OSError naming it."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("L") if img.mode not in ("L", "1", "P") else img, dtype=np.uint8)
    except FileNotFoundError:
        raise FileNotFoundError(f"mask file not found: {path}") from None
    except OSError as err:
        raise OSError(f"cannot read mask {path}: {err}") from None


def binary_mask(path: str | Path, foreground: int = MASK_FOREGROUND) -> np.ndarray:
    """A binary mask file whose documented values are 0 and ``foreground`` -> 0/1; any other
    value is an error naming the file (a JPEG-compressed or resized mask has them)."""
    mask = read_mask_file(path)
    values = np.unique(mask)
    bad = values[~np.isin(values, (0, foreground))]
    if len(bad):
        raise ValueError(f"{path}: mask values {bad[:5].tolist()} are outside the documented {{0, {foreground}}}")
    return (mask == foreground).astype(np.uint8)


def write_plain_layout(dataset: SyntheticSet, out_dir: str | Path) -> None:
    """Write ``images/<id>.png`` (and ``masks/<id>.png`` for segmentation) and ``labels.csv``
    (with the set's metadata columns; + ``classes.json``), the manifest last so that a crash
    leaves no ``labels.csv`` pointing at missing images."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    segmentation = dataset.task == "segmentation"
    if segmentation:
        (out_dir / "masks").mkdir(exist_ok=True)
    mode = "L" if dataset.images.shape[-1] == 1 else "RGB"
    rows = []
    for i, image in enumerate(dataset.images):
        sample_id = f"img{i:06d}"
        Image.fromarray(image.squeeze(-1) if mode == "L" else image, mode).save(
            out_dir / "images" / f"{sample_id}.png")
        row = {"sample_id": sample_id,
               "group_id": None if dataset.groups is None else dataset.groups[i]}
        if segmentation:
            Image.fromarray((dataset.labels[i] > 0).astype(np.uint8) * MASK_FOREGROUND, "L").save(
                out_dir / "masks" / f"{sample_id}.png")
        elif dataset.task == "multilabel":
            row.update({c: int(v) for c, v in zip(dataset.classes, dataset.labels[i])})
        else:
            row["label"] = int(dataset.labels[i])
        row.update({name: values[i] for name, values in dataset.metadata.items()})
        rows.append(row)
    write_json(out_dir / "classes.json", {"classes": dataset.classes, "task": dataset.task,
                                          "channels": int(dataset.images.shape[-1]),
                                          "metadata": list(dataset.metadata)})
    with atomic_path(out_dir / "labels.csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)


def read_plain_layout(raw_dir: str | Path) -> RawTable:
    raw_dir = Path(raw_dir)
    info = json.loads((raw_dir / "classes.json").read_text())
    frame = pd.read_csv(raw_dir / "labels.csv", dtype={"sample_id": str, "group_id": object})
    frame["path"] = [str(raw_dir / "images" / f"{s}.png") for s in frame["sample_id"]]
    frame["source"], frame["source_row"] = str(raw_dir / "labels.csv"), np.arange(1, len(frame) + 1)
    if info["task"] == "segmentation":
        frame["mask_path"] = [str(raw_dir / "masks" / f"{s}.png") for s in frame["sample_id"]]
        return RawTable(frame, [], info["classes"], info["task"], info["channels"],
                        read_mask=lambda row: binary_mask(frame["mask_path"].iloc[row]))
    label_columns = info["classes"] if info["task"] == "multilabel" else ["label"]
    return RawTable(frame, label_columns, info["classes"], info["task"], info["channels"],
                    metadata_columns=info.get("metadata", []))


def open_dicom(path: str) -> Image.Image:
    """A grayscale DICOM (e.g. a CBIS-DDSM mammogram, 16-bit) as an 8-bit PIL image, its
    stored range stretched to 0-255 and MONOCHROME1 inverted so that dense tissue is bright."""
    import pydicom  # only DICOM datasets need it
    from pydicom.errors import InvalidDicomError

    try:
        dataset = pydicom.dcmread(path)
        pixels = dataset.pixel_array.astype(np.float64)
    except (InvalidDicomError, AttributeError, ValueError) as error:
        raise OSError(f"not a readable DICOM image ({error})") from None
    low, high = pixels.min(), pixels.max()
    pixels = (pixels - low) / (high - low) if high > low else np.zeros_like(pixels)
    if dataset.get("PhotometricInterpretation") == "MONOCHROME1":
        pixels = 1.0 - pixels
    return Image.fromarray(np.round(pixels * 255).astype(np.uint8), "L")


def load_pixels(pixels: Callable[[int], np.ndarray], row: int, channels: int, size: int) -> np.ndarray:
    """One row of an array dataset, converted and resized like a decoded file."""
    array = np.asarray(pixels(row), dtype=np.uint8)
    image = Image.fromarray(array.squeeze(-1) if array.ndim == 3 and array.shape[-1] == 1 else array)
    image = image.convert("L" if channels == 1 else "RGB").resize((size, size), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if channels == 1 else array


def load_image(path: str, channels: int, size: int) -> np.ndarray:
    """Decode, convert and resize one image to (size, size, channels) uint8; errors name the
    file (the store adds where it is listed)."""
    try:
        with (open_dicom(path) if str(path).lower().endswith(".dcm") else Image.open(path)) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            img = img.resize((size, size), Image.Resampling.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        raise FileNotFoundError(f"image file not found: {path}") from None
    except OSError as err:
        raise OSError(f"cannot read image {path}: {err}") from None
    return array[..., None] if channels == 1 else array

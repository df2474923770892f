"""The standardized store: every image resized once into a memory-mappable uint8 array.

    <data_dir>/images.npy      (N, S, S, C) uint8, row i = index row with store_row i
    <data_dir>/masks.npy       (N, S, S) uint8 class indices, same rows (segmentation only;
                               resized once with nearest-neighbour sampling)
    <data_dir>/index.parquet   sample_id, group_id, split, store_row, label column(s)
    <data_dir>/meta.json       task, classes, metric, label columns, channels, split counts
    <data_dir>/splits.csv      images per class and split
"""
from __future__ import annotations

import json
import logging
import os
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from vitmed.data.raw import IGNORED, RawTable, load_image, load_pixels, locate
from vitmed.data.splits import assign_splits, split_hash, split_table, stratum_of
from vitmed.jobs.io import atomic_path, write_json, write_parquet

log = logging.getLogger(__name__)


def reserve_space(path: Path) -> None:
    """Allocate the whole (sparse) file now: a full disk is then an OSError naming the store,
    not a SIGBUS in the middle of writing through the memory map."""
    with open(path, "r+b") as handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            os.posix_fallocate(handle.fileno(), 0, size)
        except OSError as error:
            store = path.parent / path.name.split(".tmp")[0].lstrip(".")
            raise OSError(error.errno, f"{store}: cannot reserve {size / 2**20:.1f} MiB for the store "
                                       f"({error.strerror})") from None


def _image_and_mask(raw: RawTable, frame: pd.DataFrame, row: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A segmentation row: its image and its mask, checked to have the image's size and resized
    to ``size`` (the mask nearest-neighbour, so that it keeps only its label values)."""
    mask = raw.read_mask(row)
    path = frame["path"].iloc[row]
    try:
        with Image.open(path) as img:
            image_size = img.size
    except FileNotFoundError:
        raise FileNotFoundError(f"image file not found: {path}") from None
    if mask.shape[::-1] != image_size:
        where = frame["mask_path"].iloc[row] if "mask_path" in frame.columns else "its mask"
        raise ValueError(f"{where}: mask is {mask.shape[1]}x{mask.shape[0]}, its image {path} is "
                         f"{image_size[0]}x{image_size[1]}")
    if mask.max(initial=0) >= len(raw.classes):
        raise ValueError(f"{path}: mask value {int(mask.max())} is not a class index of {raw.classes}")
    resized = np.asarray(Image.fromarray(mask).resize((size, size), Image.Resampling.NEAREST), dtype=np.uint8)
    return load_image(path, raw.channels, size), resized


def draw_splits(frame: pd.DataFrame, labels: np.ndarray, ratios: dict[str, float], seed: int,
                 fixed_splits: pd.Series | None) -> np.ndarray:
    """Each row's split: drawn (stratified by label, grouped), the publisher's where it fixes
    one, or, for rows it marks ``trainval`` (a training set the paper splits 90/10), drawn
    between train and val in the ratio of ``ratios``."""
    groups = frame["group_id"].to_numpy(dtype=object)
    strata = stratum_of(labels) if len(labels) else np.zeros(len(frame), np.int64)

    def draw(rows: np.ndarray, ratios: dict[str, float]) -> np.ndarray:
        subset = groups[rows]
        return assign_splits(strata[rows], None if pd.isna(subset).all() else subset, ratios, seed)

    if fixed_splits is None:
        return draw(np.arange(len(frame)), ratios)
    splits = fixed_splits.to_numpy().astype(object)
    pool = np.flatnonzero(splits == "trainval")
    if len(pool):
        total = ratios["train"] + ratios["val"]
        splits[pool] = draw(pool, {"train": ratios["train"] / total, "val": ratios["val"] / total, "test": 0.0})
    return splits


def build_store(raw: RawTable, data_dir: str | Path, *, image_size: int, ratios: dict[str, float],
                seed: int, metric: str, manifest: str = "raw table",
                fixed_splits: pd.Series | None = None, skip_unreadable: bool = False) -> dict:
    """Decode and resize every image of ``raw`` into ``data_dir``; return the meta dict.

    ``fixed_splits`` keeps a publisher's official split (e.g. PatchCamelyon) instead of
    drawing one. With ``skip_unreadable``, a missing or undecodable image is logged, left out
    and listed in ``meta.json`` (``skipped``, ``n_skipped``) instead of stopping the job."""
    data_dir = Path(data_dir)
    frame = raw.frame.reset_index(drop=True)
    labels = frame[raw.label_columns].to_numpy()
    segmentation = raw.task == "segmentation"
    if segmentation:
        labels = np.zeros(0)
    elif raw.task != "multilabel":
        labels = labels[:, 0]
        bad = ~np.isin(labels, np.arange(len(raw.classes)))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{locate(frame, row, manifest)}: label {labels[row]} is not one of "
                             f"0..{len(raw.classes) - 1} ({raw.classes})")
    else:
        bad = ~np.isin(labels, [0, 1, IGNORED]).all(axis=1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{locate(frame, row, manifest)}: multi-label values must be 1, 0 or {IGNORED} (ignored), "
                             f"got {dict(zip(raw.label_columns, labels[row].tolist()))}")
    # the split is drawn from the manifest, before any pixel is read: an image skipped as
    # unreadable leaves every other image in the split it would have had
    all_splits = draw_splits(frame, labels, ratios, seed, fixed_splits)
    skipped = []
    for stale in [*data_dir.glob(".images.npy.tmp*"), *data_dir.glob(".masks.npy.tmp*")]:
        log.warning("removing %s, left by an earlier attempt", stale)  # a killed attempt's: it only holds space
        stale.unlink()
    # a mask problem (wrong size, undocumented values) is the data's, like an unreadable image
    unreadable = (OSError, ValueError) if segmentation else OSError
    with atomic_path(data_dir / "images.npy") as tmp, \
            atomic_path(data_dir / "masks.npy") if segmentation else nullcontext() as mask_tmp:
        images = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                           shape=(len(frame), image_size, image_size, raw.channels))
        reserve_space(tmp)
        if segmentation:
            masks = np.lib.format.open_memmap(mask_tmp, mode="w+", dtype=np.uint8,
                                              shape=(len(frame), image_size, image_size))
            reserve_space(mask_tmp)
        for row, path in enumerate(tqdm(frame["path"], desc=f"prepare {data_dir.name}",
                                        mininterval=5)):
            try:
                if segmentation:
                    images[row], masks[row] = _image_and_mask(raw, frame, row, image_size)
                else:
                    images[row] = (load_image(path, raw.channels, image_size) if raw.pixels is None
                                   else load_pixels(raw.pixels, row, raw.channels, image_size))
            except unreadable as error:  # missing or undecodable: FileNotFoundError is an OSError
                where = locate(frame, row, manifest)
                if not skip_unreadable:
                    raise type(error)(f"{where}: {error}") from None
                log.warning("skipped %s: %s", where, error)
                skipped.append({"row": row, "where": where, "path": str(path), "error": str(error)})
        images.flush()
        del images
        if segmentation:
            masks.flush()
            del masks

    keep = np.setdiff1d(np.arange(len(frame)), [s["row"] for s in skipped])
    frame, splits = frame.iloc[keep].reset_index(drop=True), all_splits[keep]

    index = frame[["sample_id", "group_id"]].reset_index(drop=True)
    index["split"] = splits
    index["store_row"] = keep
    for column in raw.label_columns:
        index[column] = frame[column].astype(np.int64)
    for column in raw.metadata_columns:
        index[column] = frame[column].to_numpy()
    counts = (foreground_table(index, data_dir / "masks.npy", raw.classes) if segmentation
              else split_table(index, raw.label_columns, raw.classes))
    with atomic_path(data_dir / "splits.csv") as tmp:
        counts.to_csv(tmp)
    meta = {
        "task": raw.task,
        "classes": raw.classes,
        "label_columns": raw.label_columns,
        "metadata_columns": raw.metadata_columns,
        "metric": metric,
        "channels": raw.channels,
        "image_size": image_size,
        "n_images": len(index),
        "split_sizes": {s: int((index["split"] == s).sum()) for s in ("train", "val", "test")},
        "split_hash": split_hash(index),
        "split_seed": seed,
        # a publisher's test set (a fixed split) stays when a repetition redraws the split (vitmed.data.resplit)
        "publisher_test": fixed_splits is not None,
        "n_skipped": len(skipped),
        "skipped": skipped,
    }
    write_parquet(data_dir / "index.parquet", index)
    write_json(data_dir / "meta.json", meta)
    return meta


def foreground_table(index: pd.DataFrame, masks_path: Path, classes: list[str]) -> pd.DataFrame:
    """Segmentation's splits.csv: per class and split, the images that hold it and its share of
    the pixels."""
    masks = np.load(masks_path, mmap_mode="r")
    rows = []
    for split, part in index.groupby("split", sort=False):
        counts = np.stack([np.bincount(masks[r].ravel(), minlength=len(classes)) for r in part["store_row"]])
        for k, name in enumerate(classes):
            rows.append({"class": name, "split": split, "images": int((counts[:, k] > 0).sum()),
                         "pixel_fraction": float(counts[:, k].sum() / counts.sum())})
    return pd.DataFrame(rows).set_index(["class", "split"])


def load_meta(data_dir: str | Path) -> dict:
    return json.loads((Path(data_dir) / "meta.json").read_text())


def pixels_dir(data_dir: str | Path, meta: dict) -> Path:
    """The folder holding a store's images.npy (and masks.npy): its own, or for a split of a
    repetition (vitmed.data.resplit) the store it re-splits, named in its meta as ``store``."""
    return Path(data_dir) / meta.get("store", ".")


def load_split(data_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Memory-mapped images and labels of one split (labels (N,) int or (N, L) float; for
    segmentation the whole memory-mapped masks array, indexed by ``store_row`` like the images)."""
    data_dir = Path(data_dir)
    meta = load_meta(data_dir)
    index = pd.read_parquet(data_dir / "index.parquet")
    rows = index[index["split"] == split]
    pixels = pixels_dir(data_dir, meta)
    images = np.load(pixels / "images.npy", mmap_mode="r")
    if meta["task"] == "segmentation":
        return images, np.load(pixels / "masks.npy", mmap_mode="r"), rows
    labels = rows[meta["label_columns"]].to_numpy()
    labels = labels.astype(np.float32) if meta["task"] == "multilabel" else labels[:, 0].astype(np.int64)
    return images, labels, rows

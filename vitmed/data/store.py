"""The standardized store: every image resized once into a memory-mappable uint8 array.

    <data_dir>/images.npy      (N, S, S, C) uint8, row i = index row with store_row i
    <data_dir>/index.parquet   sample_id, group_id, split, store_row, label column(s)
    <data_dir>/meta.json       task, classes, metric, label columns, channels, split counts
    <data_dir>/splits.csv      images per class and split
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
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
    if raw.task != "multilabel":
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
    groups = frame["group_id"].to_numpy(dtype=object)
    if fixed_splits is not None:
        all_splits = fixed_splits.to_numpy()
    else:
        all_splits = assign_splits(stratum_of(labels), None if pd.isna(groups).all() else groups, ratios, seed)
    skipped = []
    for stale in data_dir.glob(".images.npy.tmp*"):  # a killed earlier attempt's: it only holds space
        log.warning("removing %s, left by an earlier attempt", stale)
        stale.unlink()
    with atomic_path(data_dir / "images.npy") as tmp:
        images = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                           shape=(len(frame), image_size, image_size, raw.channels))
        reserve_space(tmp)
        for row, path in enumerate(tqdm(frame["path"], desc=f"prepare {data_dir.name}",
                                        mininterval=5)):
            try:
                images[row] = (load_image(path, raw.channels, image_size) if raw.pixels is None
                               else load_pixels(raw.pixels, row, raw.channels, image_size))
            except OSError as error:  # missing or undecodable: FileNotFoundError is an OSError
                where = locate(frame, row, manifest)
                if not skip_unreadable:
                    raise type(error)(f"{where}: {error}") from None
                log.warning("skipped %s: %s", where, error)
                skipped.append({"row": row, "where": where, "path": str(path), "error": str(error)})
        images.flush()
        del images

    keep = np.setdiff1d(np.arange(len(frame)), [s["row"] for s in skipped])
    frame, splits = frame.iloc[keep].reset_index(drop=True), all_splits[keep]

    index = frame[["sample_id", "group_id"]].reset_index(drop=True)
    index["split"] = splits
    index["store_row"] = keep
    for column in raw.label_columns:
        index[column] = frame[column].astype(np.int64)
    counts = split_table(index, raw.label_columns, raw.classes)
    with atomic_path(data_dir / "splits.csv") as tmp:
        counts.to_csv(tmp)
    meta = {
        "task": raw.task,
        "classes": raw.classes,
        "label_columns": raw.label_columns,
        "metric": metric,
        "channels": raw.channels,
        "image_size": image_size,
        "n_images": len(index),
        "split_sizes": {s: int((index["split"] == s).sum()) for s in ("train", "val", "test")},
        "split_hash": split_hash(index),
        "split_seed": seed,
        "n_skipped": len(skipped),
        "skipped": skipped,
    }
    write_parquet(data_dir / "index.parquet", index)
    write_json(data_dir / "meta.json", meta)
    return meta


def load_meta(data_dir: str | Path) -> dict:
    return json.loads((Path(data_dir) / "meta.json").read_text())


def load_split(data_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Memory-mapped images and labels of one split (labels (N,) int or (N, L) float)."""
    data_dir = Path(data_dir)
    meta = load_meta(data_dir)
    index = pd.read_parquet(data_dir / "index.parquet")
    rows = index[index["split"] == split]
    images = np.load(data_dir / "images.npy", mmap_mode="r")
    labels = rows[meta["label_columns"]].to_numpy()
    labels = labels.astype(np.float32) if meta["task"] == "multilabel" else labels[:, 0].astype(np.int64)
    return images, labels, rows

"""A new random split of a prepared store, for studies whose repetitions are data splits.

Piater et al. "train each architecture 10 times on different data splits": with
``repetitions: splits`` repetition ``s`` trains on the split drawn with seed ``s``. Each split
is a folder beside the store's pixels holding only what differs, its index (same rows, new
``split`` column), meta and counts; its meta names the store whose images.npy it reads
(``store``), so ten splits cost ten small index files, not ten copies of the pixels.

    <data_dir>/split<s>/index.parquet   sample_id, group_id, split, store_row, label column(s)
    <data_dir>/split<s>/meta.json       the store's meta with this split's sizes, hash and seed
    <data_dir>/split<s>/splits.csv      images per class and split
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from vitmed.data.splits import split_hash, split_table
from vitmed.data.store import draw_splits, load_meta
from vitmed.jobs.io import atomic_path, write_json, write_parquet


def resplit_store(store_dir: str | Path, out_dir: str | Path, *, seed: int, ratios: dict[str, float]) -> dict:
    """Draw the split of seed ``seed`` over the rows of the store in ``store_dir`` (stratified and
    grouped as ``prepare`` draws it: with the store's own seed it is the store's split, images
    skipped at prepare aside) into ``out_dir``; return its meta. A publisher's test set stays
    the test set: only its training rows are redrawn between train and val."""
    store_dir, out_dir = Path(store_dir), Path(out_dir)
    meta = load_meta(store_dir)
    if meta["task"] == "segmentation":
        raise ValueError(f"{store_dir}: a segmentation store keeps its split (repetitions: splits re-splits "
                         "classification datasets)")
    if meta.get("store"):
        raise ValueError(f"{store_dir}: already a split of {meta['store']}; re-split the store itself")
    index = pd.read_parquet(store_dir / "index.parquet")
    labels = index[meta["label_columns"]].to_numpy()
    if meta["task"] != "multilabel":
        labels = labels[:, 0]
    fixed = None
    if meta.get("publisher_test"):
        fixed = index["split"].where(index["split"] == "test", "trainval")
    resplit = index.assign(split=draw_splits(index, labels, ratios, seed, fixed))
    counts = split_table(resplit, meta["label_columns"], meta["classes"])
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "splits.csv") as tmp:
        counts.to_csv(tmp)
    split_meta = dict(meta, store=os.path.relpath(store_dir, out_dir), repetition="split", split_seed=seed,
                      split_sizes={s: int((resplit["split"] == s).sum()) for s in ("train", "val", "test")},
                      split_hash=split_hash(resplit))
    write_parquet(out_dir / "index.parquet", resplit)
    write_json(out_dir / "meta.json", split_meta)
    return split_meta

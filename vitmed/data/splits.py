"""Stratified, grouped, seeded train/val/test splits.

Whole groups (patients, lesions) are assigned to one split, so no group leaks across
splits. Groups are stratified by their majority stratum label and, within each stratum,
shuffled by the seed and cut where the cumulative image count crosses the split ratios.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")


def stratum_of(labels: np.ndarray) -> np.ndarray:
    """One stratum id per sample: the class for single-label tasks; for multi-label, the
    rarest positive label (or -1 for none), so rare findings spread over every split."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        return labels.astype(np.int64)
    prevalence = (labels == 1).sum(axis=0)  # ignored entries (-1) are not positives
    order = np.argsort(prevalence, kind="stable")  # rarest label first
    strata = np.full(len(labels), -1, np.int64)
    for k in order[::-1]:  # later (rarer) labels overwrite
        strata[labels[:, k] > 0] = k
    return strata


def assign_splits(strata: np.ndarray, groups: np.ndarray | None, ratios: dict[str, float],
                  seed: int) -> np.ndarray:
    """Return an array of split names, one per sample."""
    n = len(strata)
    total = sum(ratios[s] for s in SPLITS)
    if not np.isclose(total, 1.0):
        raise ValueError(f"split ratios must sum to 1, got {ratios}")
    group_ids = (np.arange(n).astype(str) if groups is None
                 else np.where(pd.isna(groups), "_row" + np.arange(n).astype(str), groups).astype(str))
    frame = pd.DataFrame({"group": group_ids, "stratum": strata})
    per_group = frame.groupby("group", sort=True).agg(
        size=("stratum", "size"), stratum=("stratum", lambda s: s.mode().min()))
    rng = np.random.default_rng(seed)
    cuts = np.cumsum([ratios[s] for s in SPLITS])[:-1]
    group_split: dict[str, str] = {}
    for _, members in per_group.groupby("stratum", sort=True):
        names = members.index.to_numpy()[rng.permutation(len(members))]
        sizes = members.loc[names, "size"].to_numpy()
        # position of each group's centre in the stratum's cumulative image count
        centre = (np.cumsum(sizes) - sizes / 2) / sizes.sum()
        which = np.searchsorted(cuts, centre, side="right")
        group_split.update(zip(names, np.array(SPLITS)[which]))
    return np.array([group_split[g] for g in group_ids])


def split_table(index: pd.DataFrame, label_columns: list[str], classes: list[str]) -> pd.DataFrame:
    """Counts per class (by name) and split (multi-label: positives per finding; ignored
    entries are not counted)."""
    if label_columns == ["label"]:
        table = pd.crosstab(index["label"].map(dict(enumerate(classes))), index["split"])
        table = table.reindex([c for c in classes if c in table.index])
    else:
        table = index[label_columns].eq(1).groupby(index["split"]).sum().T
    table = table.reindex(columns=[s for s in SPLITS if s in table.columns])
    table.index.name = "class"
    return table


def split_hash(index: pd.DataFrame) -> str:
    """Hash of (sample_id, split) pairs: equal hashes prove two runs made the same split."""
    pairs = index[["sample_id", "split"]].sort_values("sample_id").to_csv(index=False)
    return hashlib.sha256(pairs.encode()).hexdigest()

"""Piater et al.'s Table 3: which features a fine-tuned skin-lesion model uses.

Per model, its best-performing run (the highest test balanced accuracy over the repetitions, as
the paper analyses "our best-performing skin lesion models according to balanced accuracy")
predicts its test images; each feature of ``vitmed.analysis.lesion_features`` is tested for
independence of the prediction given the label (``vitmed.analysis.independence``), and the
majority of the three tests at p < 0.01 says whether the model uses it.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from vitmed.analysis.independence import TestSettings, independence_pvalues, majority_dependent
from vitmed.analysis.lesion_features import FEATURES

log = logging.getLogger(__name__)

MIN_SAMPLES = 20  # fewer test images with a feature than this: the feature is not tested (logged)


def best_run(metrics: list[dict]) -> dict:
    """The run with the highest test metric (``value``); a tie goes to the lower seed."""
    if not metrics:
        raise ValueError("no runs to choose the best-performing one from")
    return max(sorted(metrics, key=lambda m: m["seed"]), key=lambda m: m["value"])


def feature_usage(features: pd.DataFrame, sample_ids: np.ndarray, scores: np.ndarray, labels: np.ndarray, *,
                  n_classes: int, alpha: float, tests, max_samples: int | None,
                  settings: TestSettings = TestSettings()) -> pd.DataFrame:
    """One row per feature: the test images that have it (``n``), each test's p-value of
    feature ⊥ prediction | label, and ``used`` (the majority at ``alpha``; NA when untested).

    ``features`` is ``lesion_feature_table``'s (one row per image of the store); ``sample_ids``,
    ``scores`` (n, K) and ``labels`` (n,) are the model's test predictions. Above ``max_samples``
    images a seeded subsample is tested (the kernel test's cost grows with n³)."""
    table = features.set_index("sample_id")
    unknown = pd.Index(sample_ids).difference(table.index)
    if len(unknown):
        raise ValueError(f"test image {unknown[0]!r} has no row in the feature table (of another store?)")
    table = table.loc[sample_ids]
    onehot = np.eye(n_classes)[labels]
    rows = []
    for name in FEATURES:
        values = table[name].to_numpy(np.float64)
        keep = np.flatnonzero(np.isfinite(values))
        row = {"feature": name, "n": len(keep), **{f"p_{test}": np.nan for test in tests}, "used": pd.NA}
        if len(keep) < MIN_SAMPLES:
            log.warning("%s: %d test images have it (< %d): not tested", name, len(keep), MIN_SAMPLES)
            rows.append(row)
            continue
        if max_samples is not None and len(keep) > max_samples:
            keep = np.sort(np.random.default_rng(settings.seed).choice(keep, max_samples, replace=False))
            row["n"] = len(keep)
        if np.ptp(values[keep]) == 0:
            log.warning("%s: constant over the %d test images: independent of anything, not used", name, len(keep))
            rows.append({**row, "used": False})
            continue
        pvalues = independence_pvalues(values[keep], scores[keep], onehot[keep], tests, settings)
        row.update({f"p_{test}": p for test, p in pvalues.items()}, used=majority_dependent(pvalues, alpha))
        log.info("%s (n = %d): %s -> %s", name, len(keep), pvalues, "used" if row["used"] else "not used")
        rows.append(row)
    table = pd.DataFrame(rows)
    table["used"] = table["used"].astype("boolean")  # NA: not tested
    return table

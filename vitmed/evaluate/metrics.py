"""The paper's metrics, computed with scikit-learn from a score matrix.

Every protocol (fine-tuning, k-NN) produces ``scores`` of shape (N, C): class
probabilities for binary/multiclass tasks, per-label probabilities for multi-label.
"""
from __future__ import annotations

import logging

import numpy as np
from sklearn.metrics import cohen_kappa_score, recall_score, roc_auc_score

log = logging.getLogger(__name__)

METRICS = ("quadratic_kappa", "roc_auc", "macro_recall", "macro_roc_auc")
METRIC_LABELS = {
    "quadratic_kappa": "Quadratic κ",
    "roc_auc": "ROC-AUC",
    "macro_recall": "Recall",
    "macro_roc_auc": "ROC-AUC",
    "iou": "IoU",  # segmentation (vitmed.evaluate.segmentation)
}


def quadratic_kappa(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Quadratic-weighted Cohen κ of the arg-max prediction (APTOS2019)."""
    return float(cohen_kappa_score(y_true, scores.argmax(axis=1), weights="quadratic"))


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Binary ROC-AUC of the positive-class score (CBIS-DDSM, PatchCamelyon)."""
    return float(roc_auc_score(y_true, scores[:, 1]))


def macro_recall(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Recall averaged over the classes present in ``y_true`` (ISIC2019)."""
    return float(recall_score(y_true, scores.argmax(axis=1), average="macro",
                              labels=np.unique(y_true), zero_division=0))


def macro_roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Mean ROC-AUC over labels (CheXpert's 14 observations), each over the images where that
    label is not ignored (-1). A label with a single class there has no AUC: it is left out,
    logged and counted, never silently."""
    y_true = np.asarray(y_true)
    known = y_true >= 0
    usable = [k for k in range(y_true.shape[1]) if len(np.unique(y_true[known[:, k], k])) == 2]
    skipped = y_true.shape[1] - len(usable)
    if skipped:
        log.warning("macro_roc_auc: %d of %d labels have one class only and are left out",
                    skipped, y_true.shape[1])
    if not usable:
        raise ValueError("macro_roc_auc: no label has both classes in y_true")
    return float(np.mean([roc_auc_score(y_true[known[:, k], k], scores[known[:, k], k]) for k in usable]))


def score(metric: str, y_true: np.ndarray, scores: np.ndarray) -> float:
    functions = {"quadratic_kappa": quadratic_kappa, "roc_auc": roc_auc,
                 "macro_recall": macro_recall, "macro_roc_auc": macro_roc_auc}
    if metric not in functions:
        raise ValueError(f"unknown metric {metric!r}; known: {METRICS}")
    return functions[metric](np.asarray(y_true), np.asarray(scores))


def chance_level(metric: str, y_true: np.ndarray) -> float:
    """The metric of a model that does not learn (used to check the synthetic study)."""
    if metric == "macro_recall":
        return 1.0 / len(np.unique(y_true))
    return 0.0 if metric == "quadratic_kappa" else 0.5

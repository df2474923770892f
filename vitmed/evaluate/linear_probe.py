"""Linear probe: a logistic-regression head on the frozen features of an initialized encoder.

The foundation-model study (Palés Huix et al., WACV 2024) evaluates frozen encoders with linear
heads, as CLIP's linear-probe evaluation does. Features of the train, validation and test
splits are extracted once and standardized with the training split's mean and std. For each
L2 penalty of a grid, a linear head is fitted by full-batch L-BFGS on the training features,
minimizing the mean cross-entropy (single-label) or the per-label binary cross-entropy over
known labels (multi-label; an ignored label, -1, adds nothing) plus ``l2 / 2 * ||W||²`` (bias
not penalized): scikit-learn's ``LogisticRegression`` with ``C = 1 / (l2 * n_train)``. The
penalty with the best validation metric (on a tie, the stronger) scores the test split. Starting from zero weights on
a convex objective, the fit involves no randomness.
"""
from __future__ import annotations

import torch
from torch import nn

from vitmed.data.store import load_meta
from vitmed.evaluate.features import split_features
from vitmed.evaluate.metrics import score
from vitmed.evaluate.predict import to_scores
from vitmed.train.losses import loss_function

SPLITS = ("train", "val", "test")


def fit_linear_head(features: torch.Tensor, labels: torch.Tensor, task: str, n_outputs: int, *,
                    l2: float, max_iter: int) -> nn.Linear:
    """Full-batch L-BFGS on (N, D) features (on their device); labels (N,) class indices or
    (N, C) {1, 0, -1}."""
    head = nn.Linear(features.shape[1], n_outputs).to(features.device, features.dtype)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    criterion = loss_function(task)
    targets = labels.long() if task != "multilabel" else labels.float()
    opt = torch.optim.LBFGS(head.parameters(), lr=1, max_iter=max_iter, history_size=20,
                            tolerance_grad=1e-9, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def objective():
        opt.zero_grad()
        loss = criterion(head(features), targets) + l2 / 2 * head.weight.square().sum()
        loss.backward()
        return loss

    opt.step(objective)
    return head


def standardize(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Each tensor scaled with the training features' mean and std (a constant feature keeps std 1)."""
    mean, std = train.mean(0), train.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return [(x - mean) / std for x in (train, *others)]


@torch.no_grad()
def _scores(head: nn.Linear, features: torch.Tensor, task: str) -> torch.Tensor:
    return to_scores(head(features), task).cpu()


def linear_probe_scores(features: dict[str, torch.Tensor], labels: dict[str, torch.Tensor], *, task: str,
                        metric: str, n_outputs: int, l2_grid: list[float], max_iter: int) -> dict:
    """Fit one head per penalty on the train split, keep the best on val, score test."""
    train, val, test = standardize(*(features[split] for split in SPLITS))
    device = train.device
    best = None
    for l2 in l2_grid:
        head = fit_linear_head(train, labels["train"].to(device), task, n_outputs, l2=l2, max_iter=max_iter)
        val_value = score(metric, labels["val"].numpy(), _scores(head, val, task).numpy())
        if best is None or (val_value, l2) > (best[1], best[0]):  # a tie goes to the stronger penalty
            best = (l2, val_value, head)
    l2, val_value, head = best
    value = score(metric, labels["test"].numpy(), _scores(head, test, task).numpy())
    return {"metric": metric, "value": value, "l2": l2, "val_value": val_value}


def linear_probe_evaluate(model: nn.Module, data_dir, *, l2_grid: list[float], max_iter: int,
                          input_size: int, batch_size: int, eval_crop: str = "center") -> dict:
    """Linear-probe score of a frozen encoder on ``data_dir``'s test split."""
    meta = load_meta(data_dir)
    features, labels = split_features(model, data_dir, SPLITS, input_size=input_size, eval_crop=eval_crop,
                                      batch_size=batch_size)
    result = linear_probe_scores(features, labels, task=meta["task"], metric=meta["metric"],
                                 n_outputs=len(meta["classes"]), l2_grid=l2_grid, max_iter=max_iter)
    return dict(result, embedding_dim=int(features["train"].shape[1]))

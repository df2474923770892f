"""Weighted k-NN classification on L2-normalized embeddings (the DINO evaluation protocol).

Each test embedding votes with its k most cosine-similar training embeddings, weighted by
exp(similarity / T). Single-label tasks accumulate one-hot votes; multi-label tasks take the
weighted average of the neighbours' label vectors. The result is a score matrix (N, C).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from vitmed.data.store import load_meta
from vitmed.evaluate.features import split_features
from vitmed.evaluate.metrics import score


@torch.no_grad()
def knn_scores(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
               *, k: int, temperature: float, num_classes: int, chunk_size: int = 1024,
               device: torch.device | str = "cpu") -> torch.Tensor:
    """``train_labels`` is (N,) int for single-label or (N, C) {0,1,-1} for multi-label (-1:
    ignored, that neighbour does not vote on that label). Runs on
    ``device`` (the similarity matmul dominates: a GPU makes it fast); returns CPU scores."""
    if len(train_features) != len(train_labels) or len(train_features) == 0:
        raise ValueError(f"knn_scores: {len(train_features)} training embeddings, {len(train_labels)} labels: "
                         "one label per embedding, at least one")
    if train_features.shape[1:] != test_features.shape[1:]:
        raise ValueError(f"knn_scores: training embeddings {tuple(train_features.shape[1:])} and test embeddings "
                         f"{tuple(test_features.shape[1:])} differ in dimension")
    if k < 1 or temperature <= 0:
        raise ValueError(f"knn_scores: k must be >= 1 and temperature > 0, got k={k}, temperature={temperature}")
    if train_labels.ndim == 1 and len(train_labels) and not 0 <= int(train_labels.min()) <= int(train_labels.max()) \
            < num_classes:
        raise ValueError(f"knn_scores: labels must be class indices 0..{num_classes - 1}, got "
                         f"{int(train_labels.min())}..{int(train_labels.max())}")
    train = F.normalize(train_features.to(device).float(), dim=1)
    test = F.normalize(test_features.to(device).float(), dim=1)
    train_labels = train_labels.to(device)
    k = min(k, len(train))
    if train_labels.ndim == 1:
        targets = F.one_hot(train_labels.long(), num_classes).float()
        known = torch.ones_like(targets)
    else:  # a neighbour whose label is ignored (-1) does not vote on that label
        known = (train_labels >= 0).float()
        targets = train_labels.float().clamp(min=0)
    out = []
    for start in range(0, len(test), chunk_size):  # bounds memory at chunk x N_train
        similarity = test[start:start + chunk_size] @ train.T
        top_sim, top_idx = similarity.topk(k, dim=1)
        weights = (top_sim / temperature).exp().unsqueeze(-1) * known[top_idx]
        votes, total = (weights * targets[top_idx]).sum(dim=1), weights.sum(dim=1)
        # no neighbour with a known label: an uninformative 0.5
        out.append(torch.where(total > 0, votes / total.clamp(min=1e-30), torch.full_like(votes, 0.5)))
    return torch.cat(out).cpu()


def knn_evaluate(model: torch.nn.Module, data_dir, *, k: int, temperature: float, input_size: int,
                 batch_size: int, eval_crop: str = "center") -> dict:
    """k-NN score of a frozen encoder: train split as memory bank, test split scored."""
    meta = load_meta(data_dir)
    features, labels = split_features(model, data_dir, ("train", "test"), input_size=input_size,
                                      eval_crop=eval_crop, batch_size=batch_size)
    train_x, test_x = features["train"], features["test"]
    scores = knn_scores(train_x, labels["train"], test_x, k=k, temperature=temperature,
                        num_classes=len(meta["classes"]), device=next(model.parameters()).device)
    return {"metric": meta["metric"], "value": score(meta["metric"], labels["test"].numpy(), scores.numpy()),
            "k": min(k, len(train_x)), "embedding_dim": int(train_x.shape[1])}

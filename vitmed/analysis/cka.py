"""Linear CKA over minibatches with the unbiased HSIC estimator (Nguyen et al. 2021).

For each minibatch, the unbiased HSIC_1 (Song et al. 2012) of every pair of layers is
accumulated; CKA(a, b) = mean HSIC_1(K_a, K_b) / sqrt(mean HSIC_1(K_a, K_a) · mean HSIC_1(K_b, K_b)).
Memory is that of one minibatch's Gram matrices, whatever the number of images. With one
batch covering the whole set it is the full-Gram unbiased CKA.
"""
from __future__ import annotations

import torch

from vitmed.models.factory import embed


def _gram_terms(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear Gram with zeroed diagonal, flattened; its row sums; its total."""
    x = features.flatten(1).double()
    gram = x @ x.T
    gram.fill_diagonal_(0)
    rows = gram.sum(dim=1)
    return gram.flatten(), rows, rows.sum()


def hsic1_matrix(batch_a: list[torch.Tensor], batch_b: list[torch.Tensor]) -> torch.Tensor:
    """Unbiased HSIC_1 of every (layer of a, layer of b) pair on one minibatch of n ≥ 4 images:
    [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1 / ((n-1)(n-2)) − 2/(n-2)·1ᵀK̃L̃1] / (n(n-3))."""
    n = batch_a[0].shape[0]
    if n < 4:
        raise ValueError(f"unbiased HSIC needs at least 4 images per batch, got {n}")
    a = [_gram_terms(x) for x in batch_a]
    b = a if batch_b is batch_a else [_gram_terms(x) for x in batch_b]
    flat_a, flat_b = torch.stack([t[0] for t in a]), torch.stack([t[0] for t in b])
    rows_a, rows_b = torch.stack([t[1] for t in a]), torch.stack([t[1] for t in b])
    sum_a, sum_b = torch.stack([t[2] for t in a]), torch.stack([t[2] for t in b])
    trace = flat_a @ flat_b.T                     # tr(K̃L̃) = Σ K̃ ∘ L̃ (symmetric Grams)
    sums = torch.outer(sum_a, sum_b) / ((n - 1) * (n - 2))
    cross = rows_a @ rows_b.T * 2 / (n - 2)       # 1ᵀK̃L̃1 = (K̃1)·(L̃1)
    return (trace + sums - cross) / (n * (n - 3))


class MinibatchCKA:
    """Accumulates layer x layer linear CKA between two sets of representations."""

    def __init__(self):
        self.cross = self.self_a = self.self_b = None
        self.batches = 0

    def update(self, layers_a: list[torch.Tensor], layers_b: list[torch.Tensor]) -> None:
        cross = hsic1_matrix(layers_a, layers_b)
        self_a = torch.diagonal(hsic1_matrix(layers_a, layers_a))
        self_b = torch.diagonal(hsic1_matrix(layers_b, layers_b))
        if self.cross is None:
            self.cross, self.self_a, self.self_b = cross, self_a, self_b
        else:
            self.cross += cross
            self.self_a += self_a
            self.self_b += self_b
        self.batches += 1

    def compute(self) -> torch.Tensor:
        if self.cross is None:
            raise ValueError("no batch was added")
        return self.cross / torch.sqrt(torch.outer(self.self_a, self.self_b))


def linear_cka(x: torch.Tensor, y: torch.Tensor, batch_size: int | None = None) -> float:
    """CKA between two representations of the same images, over minibatches of ``batch_size``
    (all images in one batch when None)."""
    if len(x) != len(y):
        raise ValueError(f"linear_cka: x has {len(x)} rows and y {len(y)}: both must represent the same images")
    metric = MinibatchCKA()
    step = batch_size or len(x)
    for start in range(0, len(x) - step + 1, step):  # a short last batch would bias HSIC_1's weights
        metric.update([x[start:start + step]], [y[start:start + step]])
    return float(metric.compute()[0, 0])


def _block_features(model: torch.nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    return model.forward_intermediates(images, intermediates_only=True)


@torch.no_grad()
def layerwise_cka(model_a: torch.nn.Module, model_b: torch.nn.Module, batches) -> torch.Tensor:
    """Layer x layer CKA between the blocks (timm ``forward_intermediates``) of two models."""
    model_a.eval()
    model_b.eval()
    metric = MinibatchCKA()
    for images in batches:
        metric.update(_block_features(model_a, images), _block_features(model_b, images))
    return metric.compute()


@torch.no_grad()
def embedding_cka(models: list[torch.nn.Module], batches) -> torch.Tensor:
    """Model x model CKA between the last-layer embeddings (``vitmed.models.factory.embed``: CLS token
    or pooled features) of several models, e.g. the different architectures of a study."""
    for model in models:
        model.eval()
    metric = MinibatchCKA()
    for images in batches:
        embeddings = [embed(model, images) for model in models]
        metric.update(embeddings, embeddings)
    return metric.compute()

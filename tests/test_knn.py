import numpy as np
import pytest
import torch

from vitmed.evaluate.knn import knn_scores


def brute_force(train_x, train_y, test_x, k, temperature, num_classes):
    """Reference: one test sample at a time, full sort, explicit weighted vote."""
    train = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
    test = test_x / np.linalg.norm(test_x, axis=1, keepdims=True)
    out = np.zeros((len(test), num_classes))
    for i, q in enumerate(test):
        sims = train @ q
        nearest = np.argsort(-sims, kind="stable")[:k]
        weights = np.exp(sims[nearest] / temperature)
        for w, j in zip(weights, nearest):
            target = np.eye(num_classes)[train_y[j]] if train_y.ndim == 1 else train_y[j]
            out[i] += w * target
        out[i] /= weights.sum()
    return out


def test_knn_matches_brute_force_single_label():
    rng = np.random.default_rng(0)
    train_x, test_x = rng.normal(size=(300, 16)), rng.normal(size=(50, 16))
    train_y = rng.integers(0, 5, 300)
    ours = knn_scores(torch.tensor(train_x), torch.tensor(train_y), torch.tensor(test_x), k=20,
                      temperature=0.07, num_classes=5, chunk_size=7).numpy()
    np.testing.assert_allclose(ours, brute_force(train_x, train_y, test_x, 20, 0.07, 5), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, rtol=1e-5)


def test_knn_multilabel_is_weighted_average_of_label_vectors():
    rng = np.random.default_rng(1)
    train_x, test_x = rng.normal(size=(200, 8)), rng.normal(size=(30, 8))
    train_y = (rng.random((200, 14)) < 0.3).astype(np.float32)
    ours = knn_scores(torch.tensor(train_x), torch.tensor(train_y), torch.tensor(test_x), k=15,
                      temperature=0.1, num_classes=14).numpy()
    np.testing.assert_allclose(ours, brute_force(train_x, train_y, test_x, 15, 0.1, 14), rtol=1e-4, atol=1e-5)


def test_knn_multilabel_ignored_neighbours_do_not_vote():
    rng = np.random.default_rng(2)
    train_x, test_x = rng.normal(size=(200, 8)), rng.normal(size=(30, 8))
    train_y = rng.choice([0.0, 1.0, -1.0], size=(200, 6), p=[0.5, 0.3, 0.2]).astype(np.float32)
    train_y[:, 5] = -1  # a label nobody knows
    ours = knn_scores(torch.tensor(train_x), torch.tensor(train_y), torch.tensor(test_x), k=15,
                      temperature=0.1, num_classes=6).numpy()
    for label in range(5):  # each label: the weighted average over the neighbours that know it
        known = train_y[:, label] >= 0
        for i in range(len(test_x)):
            sims = (train_x / np.linalg.norm(train_x, axis=1, keepdims=True)) @ (test_x[i] / np.linalg.norm(test_x[i]))
            nearest = np.argsort(-sims, kind="stable")[:15]
            nearest = nearest[known[nearest]]
            weights = np.exp(sims[nearest] / 0.1)
            assert ours[i, label] == pytest.approx(
                weights @ train_y[nearest, label] / weights.sum(), rel=1e-4, abs=1e-6
            )
    np.testing.assert_allclose(ours[:, 5], 0.5)


def test_knn_k_larger_than_bank_uses_all():
    train_x = torch.eye(3)
    scores = knn_scores(train_x, torch.tensor([0, 1, 1]), torch.tensor([[1.0, 0, 0]]), k=200,
                        temperature=1.0, num_classes=2)
    e = np.e
    np.testing.assert_allclose(scores.numpy(), [[e / (e + 2), 2 / (e + 2)]], rtol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda: knn_scores(torch.randn(10, 4), torch.zeros(9, dtype=torch.long), torch.randn(3, 4), k=3,
                        temperature=0.07, num_classes=2), "10 training embeddings, 9 labels"),
    (lambda: knn_scores(torch.randn(10, 4), torch.zeros(10, dtype=torch.long), torch.randn(3, 5), k=3,
                        temperature=0.07, num_classes=2), "differ in dimension"),
    (lambda: knn_scores(torch.randn(10, 4), torch.zeros(10, dtype=torch.long), torch.randn(3, 4), k=0,
                        temperature=0.07, num_classes=2), "k must be >= 1"),
    (lambda: knn_scores(torch.randn(10, 4), torch.full((10,), 2), torch.randn(3, 4), k=3,
                        temperature=0.07, num_classes=2), "class indices 0..1, got 2..2"),
])
def test_knn_scores_refuses_inconsistent_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call()

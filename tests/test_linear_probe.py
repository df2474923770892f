import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from vitmed.evaluate.linear_probe import fit_linear_head, linear_probe_scores, standardize


def blobs(n, dim, classes, seed, noise=1.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    y = (x @ rng.normal(size=(dim, classes)) + noise * rng.normal(size=(n, classes))).argmax(1)
    return x, y


@pytest.mark.parametrize("C", [0.01, 1.0, 100.0])
def test_head_is_scikit_learns_logistic_regression(C):
    x, y = blobs(300, 5, 3, seed=0)
    reference = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(x, y)
    head = fit_linear_head(torch.tensor(x), torch.tensor(y), "multiclass", 3, l2=1 / (C * len(x)), max_iter=500)
    probabilities = torch.softmax(head(torch.tensor(x)), 1).detach().numpy()
    np.testing.assert_allclose(probabilities, reference.predict_proba(x), atol=1e-5)


def test_multilabel_head_ignores_unknown_labels_like_per_label_regressions():
    """Masked BCE over the K known entries = one logistic regression per label on its known
    rows, each with C = 1 / (l2 * K)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4))
    labels = (x @ rng.normal(size=(4, 3)) + rng.normal(size=(200, 3)) > 0).astype(float)
    labels[rng.random((200, 3)) < 0.3] = -1  # uncertain, ignored
    known = labels >= 0
    l2 = 0.01
    head = fit_linear_head(torch.tensor(x), torch.tensor(labels), "multilabel", 3, l2=l2, max_iter=500)
    probabilities = torch.sigmoid(head(torch.tensor(x))).detach().numpy()
    for j in range(3):
        rows = known[:, j]
        reference = LogisticRegression(C=1 / (l2 * known.sum()), tol=1e-10, max_iter=10_000)
        reference.fit(x[rows], labels[rows, j])
        np.testing.assert_allclose(probabilities[:, j], reference.predict_proba(x)[:, 1], atol=1e-5)


def test_standardize_uses_the_training_statistics_only():
    train = torch.tensor([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    test = torch.tensor([[3.0, 7.0]])
    train_z, test_z = standardize(train, test)
    torch.testing.assert_close(train_z[:, 0], torch.tensor([-1.0, 0.0, 1.0]))
    torch.testing.assert_close(test_z, torch.tensor([[0.0, 2.0]]))  # constant feature: std 1


def test_penalty_is_chosen_on_validation():
    """The grid's result is the single-penalty run with the best validation score, whatever
    the grid's order."""
    x, y = blobs(240, 40, 3, seed=2)  # few samples, many features: the penalty matters
    features = {"train": torch.tensor(x[:80]), "val": torch.tensor(x[80:160]), "test": torch.tensor(x[160:])}
    labels = {"train": torch.tensor(y[:80]), "val": torch.tensor(y[80:160]), "test": torch.tensor(y[160:])}

    def probe(grid):
        return linear_probe_scores(features, labels, task="multiclass", metric="macro_recall", n_outputs=3,
                                   l2_grid=grid, max_iter=200)
    grid = [1e-4, 1e-2, 1.0, 10.0]
    single = {l2: probe([l2]) for l2 in grid}
    assert len({round(r["val_value"], 6) for r in single.values()}) > 1  # the penalties differ on val
    best = max(grid, key=lambda l2: single[l2]["val_value"])
    assert probe(grid) == probe(grid[::-1]) == single[best]
    assert single[best]["l2"] == best and 0.4 < single[best]["value"] <= 1


def test_a_tie_on_validation_goes_to_the_stronger_penalty():
    """Well-separated classes: every penalty of the grid is perfect on validation; the
    strongest one is kept (the simpler model), whatever the grid's order."""
    rng = np.random.default_rng(3)
    y = np.arange(90) % 3
    x = np.eye(3)[y] * 10 + rng.normal(scale=0.1, size=(90, 3))
    blocks = {"train": slice(0, 30), "val": slice(30, 60), "test": slice(60, 90)}
    features = {split: torch.tensor(x[rows]) for split, rows in blocks.items()}
    labels = {split: torch.tensor(y[rows]) for split, rows in blocks.items()}
    for grid in ([1e-3, 1e-1, 1.0], [1.0, 1e-3, 1e-1]):
        result = linear_probe_scores(features, labels, task="multiclass", metric="macro_recall", n_outputs=3,
                                     l2_grid=grid, max_iter=100)
        assert result["val_value"] == 1.0 and result["l2"] == 1.0

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from vitmed.data.synthetic import GENERATORS, generate
from vitmed.evaluate.metrics import chance_level, score

TASK_METRIC = {"fundus_grades": "quadratic_kappa", "mammo_mass": "roc_auc", "skin_lesions": "macro_recall",
               "chest_findings": "macro_roc_auc", "lymph_patches": "roc_auc", "lymph_patches_other_site": "roc_auc",
               "source_objects": "macro_recall"}


def features(images):
    """Generic hand-made features: an 8x8 thumbnail, per-channel intensity histograms and an
    edge-strength histogram, standardized."""
    n, size, _, c = images.shape
    x = images.astype(np.float32) / 255
    k = size // 8
    thumb = x[:, :k * 8, :k * 8].reshape(n, 8, k, 8, k, c).mean(axis=(2, 4)).reshape(n, -1)
    hist = np.stack([np.concatenate([np.histogram(img[..., ch], bins=12, range=(0, 1))[0] for ch in range(c)])
                     for img in x]) / size ** 2
    gy, gx = np.gradient(x.mean(-1), axis=(1, 2))
    edges = np.stack([np.histogram(e, bins=8, range=(0, 0.5))[0] for e in np.hypot(gx, gy)]) / size ** 2
    f = np.concatenate([thumb, hist, edges], axis=1)
    return (f - f.mean(0)) / (f.std(0) + 1e-6)


def fit_and_score(name, labels, train, test, x):
    clf = LogisticRegression(max_iter=2000, C=1.0)
    if labels.ndim == 2:
        clf = OneVsRestClassifier(clf)
    clf.fit(x[train], labels[train])
    proba = clf.predict_proba(x[test])
    return score(TASK_METRIC[name], labels[test], proba)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_is_deterministic_and_well_formed(name):
    a = generate(name, 40, 32, seed=7)
    b = generate(name, 40, 32, seed=7)
    c = generate(name, 40, 32, seed=8)
    assert a.images.dtype == np.uint8 and a.images.shape[:3] == (40, 32, 32)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)
    assert a.images.std() > 5  # not blank
    if a.task == "multilabel":
        assert a.labels.shape == (40, len(a.classes))
    else:
        assert set(np.unique(a.labels)) <= set(range(len(a.classes)))


@pytest.mark.parametrize("name", sorted(TASK_METRIC))  # image-level labels (segmentation: tests/test_segmentation.py)
def test_labels_are_recoverable_and_shuffled_labels_are_not(name):
    data = generate(name, 600, 32, seed=3)
    x = features(data.images)
    train, test = np.arange(0, 450), np.arange(450, 600)
    chance = chance_level(TASK_METRIC[name], data.labels[test] if data.labels.ndim == 1 else np.array([0, 1]))
    learned = fit_and_score(name, data.labels, train, test, x)
    shuffled = data.labels[np.random.default_rng(0).permutation(len(data.labels))]
    control = fit_and_score(name, shuffled, train, test, x)
    # even a linear model on generic features finds the label; with shuffled labels it cannot
    assert learned > chance + 0.05, (learned, chance)
    assert abs(control - chance) < 0.1, (control, chance)
    assert learned < 0.999, "task is trivial"


@pytest.mark.parametrize("name, share", [("lesion_masks", (0.08, 0.25)), ("mass_masks", (0.02, 0.06))])
def test_segmentation_masks_mark_what_differs_from_the_background(name, share):
    """The lesion (mass) pixels differ from the rest of their image: the mask is in the image, not noise."""
    data = generate(name, 60, 48, seed=3)
    assert data.labels.shape == (60, 48, 48) and set(np.unique(data.labels)) == {0, 1}
    assert share[0] < data.labels.mean() < share[1] and data.labels.reshape(60, -1).any(1).all()
    gray = data.images.astype(float).mean(-1)
    inside = np.array([gray[i][data.labels[i] == 1].mean() for i in range(60)])
    around = np.array([gray[i][(data.labels[i] == 0) & (gray[i] > 20)].mean() for i in range(60)])
    # skin lesions are darker than the skin, masses brighter than the tissue around them
    assert (inside < around).mean() > 0.9 if name == "lesion_masks" else (inside > around).mean() > 0.9

import numpy as np
import pytest

from vitmed.evaluate.metrics import chance_level, score


def onehot_scores(pred, num_classes):
    return np.eye(num_classes)[pred]


def test_quadratic_kappa_by_hand():
    # 3 classes, weights w_ij = (i-j)^2 / 4. Observed O = [[1,1,0],[0,1,0],[0,0,1]] / 4.
    y_true = np.array([0, 0, 1, 2])
    y_pred = np.array([0, 1, 1, 2])
    # sum w*O = (1/4)*(1/4) = 1/16; row marg (2,1,1)/4, col marg (1,2,1)/4,
    # sum w*E = sum_ij w_ij r_i c_j = [1/4*(2*2) + 1*(2*1) + 1/4*(1*1) + 1/4*(1*1) + 1*(1*1) + 1/4*(1*2)]/16
    expected_e = (1 / 4 * 4 + 1 * 2 + 1 / 4 * 1 + 1 / 4 * 1 + 1 * 1 + 1 / 4 * 2) / 16
    expected = 1 - (1 / 16) / expected_e
    assert score("quadratic_kappa", y_true, onehot_scores(y_pred, 3)) == pytest.approx(expected)
    assert score("quadratic_kappa", y_true, onehot_scores(y_true, 3)) == pytest.approx(1.0)


def test_roc_auc_by_hand():
    y_true = np.array([0, 0, 1, 1])
    positive = np.array([0.1, 0.4, 0.35, 0.8])
    scores = np.stack([1 - positive, positive], axis=1)
    # pairs (pos, neg): (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4) -> 3/4
    assert score("roc_auc", y_true, scores) == pytest.approx(0.75)


def test_macro_recall_by_hand():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 0, 2, 2])
    # recalls 3/4, 1/2, 1 -> mean 0.75 (accuracy would be 6/8 = 0.75 too, so change one more)
    assert score("macro_recall", y_true, onehot_scores(y_pred, 3)) == pytest.approx((3 / 4 + 1 / 2 + 1) / 3)
    y_pred2 = np.array([0, 0, 0, 0, 0, 0, 2, 2])  # accuracy 6/8 but recall (1 + 0 + 1)/3
    assert score("macro_recall", y_true, onehot_scores(y_pred2, 3)) == pytest.approx(2 / 3)


def test_macro_roc_auc_skips_single_class_labels(caplog):
    y_true = np.array([[0, 1, 0], [1, 1, 0], [0, 1, 1], [1, 1, 1]])
    scores = np.array([[0.1, 0.5, 0.9], [0.9, 0.5, 0.1], [0.2, 0.5, 0.3], [0.8, 0.5, 0.4]])
    # label 0: perfect (1.0); label 1: one class only -> left out; label 2: pos (0.3, 0.4) vs neg (0.9, 0.1): 2/4
    assert score("macro_roc_auc", y_true, scores) == pytest.approx((1.0 + 0.5) / 2)
    assert "1 of 3 labels" in caplog.text


def test_macro_roc_auc_leaves_ignored_labels_out():
    y_true = np.array([[0, -1], [1, 0], [0, 1], [1, -1], [-1, 1]])
    scores = np.array([[0.2, 0.9], [0.6, 0.3], [0.7, 0.8], [0.9, 0.1], [0.0, 0.4]])
    # label 0 over rows 0-3: pos (0.6, 0.9) vs neg (0.2, 0.7) -> 3/4; label 1 over rows 1, 2, 4:
    # pos (0.8, 0.4) vs neg (0.3) -> 1; with -1 read as a class, label 1 would be 3-class
    assert score("macro_roc_auc", y_true, scores) == pytest.approx((0.75 + 1.0) / 2)


def test_unknown_metric_is_an_error():
    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        score("accuracy", np.zeros(2), np.zeros((2, 2)))


def test_chance_levels():
    assert chance_level("macro_recall", np.array([0, 1, 2, 3])) == 0.25
    assert chance_level("quadratic_kappa", np.array([0, 1])) == 0.0
    assert chance_level("roc_auc", np.array([0, 1])) == 0.5


def test_macro_recall_averages_over_the_true_classes_only():
    """A class that is predicted but never true has no recall: it must not count as a 0 (issue 22:
    over the predicted classes too, this gives 0.5)."""
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 2, 1, 1])  # class 0: 1/2, class 1: 2/2
    assert score("macro_recall", y_true, onehot_scores(y_pred, 3)) == pytest.approx(0.75)

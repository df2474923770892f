import numpy as np
import pandas as pd
import pytest

from vitmed.data.splits import assign_splits, split_hash, stratum_of

RATIOS = {"train": 0.7, "val": 0.15, "test": 0.15}


def test_splits_are_stratified_and_follow_ratios():
    rng = np.random.default_rng(0)
    labels = rng.choice(3, size=3000, p=[0.6, 0.3, 0.1])
    splits = assign_splits(stratum_of(labels), None, RATIOS, seed=1)
    for cls in range(3):
        members = splits[labels == cls]
        for name, ratio in RATIOS.items():
            assert abs((members == name).mean() - ratio) < 0.01, (cls, name)


def test_groups_never_cross_splits_and_split_is_deterministic():
    rng = np.random.default_rng(0)
    groups = np.array([f"patient{i}" for i in rng.integers(0, 300, 2000)])
    labels = rng.integers(0, 2, 2000)
    first = assign_splits(stratum_of(labels), groups, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=3)
    frame = pd.DataFrame({"group": groups, "split": first})
    assert (frame.groupby("group")["split"].nunique() == 1).all()
    again = assign_splits(stratum_of(labels), groups, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=3)
    assert (first == again).all()
    other = assign_splits(stratum_of(labels), groups, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=4)
    assert (first != other).any()
    assert set(first) == {"train", "val", "test"}
    assert abs((first == "train").mean() - 0.8) < 0.05


def test_missing_groups_are_their_own_group():
    groups = np.array(["a", "a", None, None, "b", "b"], dtype=object)
    splits = assign_splits(np.zeros(6, int), groups, {"train": 0.5, "val": 0.25, "test": 0.25}, seed=0)
    assert splits[0] == splits[1] and splits[4] == splits[5]


def test_multilabel_stratum_is_rarest_positive_label():
    labels = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1], [1, 0, 0]])
    # prevalences 4, 2, 1 -> rarest first: label 2, then 1, then 0
    assert stratum_of(labels).tolist() == [1, 0, -1, 2, 0]


def test_ratios_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        assign_splits(np.zeros(4, int), None, {"train": 0.8, "val": 0.1, "test": 0.2}, seed=0)


def test_split_hash_changes_with_assignment():
    index = pd.DataFrame({"sample_id": ["a", "b"], "split": ["train", "test"]})
    swapped = pd.DataFrame({"sample_id": ["a", "b"], "split": ["test", "train"]})
    assert split_hash(index) == split_hash(index.iloc[::-1])
    assert split_hash(index) != split_hash(swapped)


def test_rows_without_a_group_are_not_pooled_into_one():
    """300 images without a patient id: each its own group, so they spread over the splits by
    the ratios (pooled into one group, all would land in one split)."""
    groups = np.array([None] * 300, dtype=object)
    splits = assign_splits(np.zeros(300, int), groups, RATIOS, seed=0)
    for name, ratio in RATIOS.items():
        assert abs((splits == name).mean() - ratio) < 0.02, name

"""The published numbers, the comparison table and the Welch t-tests."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vitmed.report.compare import compare_with_published, load_published, welch_markdown, welch_tests


def test_published_tables_are_complete_and_spot_checked():
    published = load_published()
    assert published.groupby("table").size().to_dict() == {"table1": 60, "table2": 4, "table3": 30, "table4": 30,
                                                           "table5": 10}
    cell = published.set_index(["table", "dataset", "model", "init", "protocol"])
    assert cell.loc[("table1", "APTOS2019", "ResNet50", "random", "finetune"), "median"] == 0.849
    assert cell.loc[("table1", "Camelyon", "DeiT-S", "dino", "finetune"), "std"] == 0.002
    assert cell.loc[("table3", "ISIC2019", "DeiT-S", "dino", "knn"), "median"] == 0.637
    assert cell.loc[("table4", "ISIC2019", "DeiT-B", "imagenet", "finetune"), "median"] == 0.840
    assert cell.loc[("table2", "ISIC2018", "DeiT-S", "imagenet", "segmentation"), "median"] == 0.845
    assert cell.loc[("table2", "CSAW-S", "ResNet50", "imagenet", "segmentation"), "std"] == 0.008
    t5 = published[(published["table"] == "table5") & (published["dataset"] == "CheXpert")]
    assert dict(zip(t5["patch_size"], t5["median"])) == {16: 0.794, 8: 0.800}
    # Table 4's DeiT-S (ImageNet) is Table 1's
    t1 = cell.loc[("table1", slice(None), "DeiT-S", "imagenet", "finetune"), "median"].to_numpy()
    t4 = cell.loc[("table4", slice(None), "DeiT-S", "imagenet", "finetune"), "median"].to_numpy()
    np.testing.assert_array_equal(t1, t4)


def test_comparison_difference_and_within_std():
    published = load_published()
    ours = pd.DataFrame(
        [
            {
                "dataset": "APTOS2019",
                "model": "ResNet50",
                "init": "random",
                "protocol": "finetune",
                "median": 0.860,
                "std": 0.01,
                "n_seeds": 5,
            },
            {
                "dataset": "APTOS2019",
                "model": "DeiT-S",
                "init": "random",
                "protocol": "finetune",
                "median": 0.600,
                "std": 0.02,
                "n_seeds": 5,
            },
            {
                "dataset": "Synthetic",
                "model": "DeiT-S",
                "init": "random",
                "protocol": "finetune",
                "median": 0.5,
                "std": 0.0,
                "n_seeds": 5,
            },
        ]
    )
    table = compare_with_published(ours, published).set_index(["dataset", "model", "init", "protocol"])
    resnet = table.loc[("APTOS2019", "ResNet50", "random", "finetune")]
    assert resnet["difference"] == pytest.approx(0.011) and bool(resnet["within_paper_std"]) is True  # std 0.022
    deit = table.loc[("APTOS2019", "DeiT-S", "random", "finetune")]
    assert deit["difference"] == pytest.approx(-0.087) and bool(deit["within_paper_std"]) is False
    assert table["median"].notna().sum() == 2, "cells the paper does not have are left out"
    assert len(table) == 60 + 4 + 30 + 30 - 10  # Table 4 repeats Table 1's ImageNet ResNet50/DeiT-S cells

    # Table 5: the 8x8 row compared with the model the config names for it; 16x16 is Table 1's DeiT-S
    p8 = pd.DataFrame([{"dataset": "CheXpert", "model": "DeiT-S-p8", "init": "imagenet", "protocol": "finetune",
                        "median": 0.803, "std": 0.001, "n_seeds": 5}])
    with_t5 = compare_with_published(p8, published, {16: "DeiT-S", 8: "DeiT-S-p8"})
    assert len(with_t5) == len(table) + 5
    row = with_t5[with_t5["model"] == "DeiT-S-p8"].set_index("dataset").loc["CheXpert"]
    assert row["table"] == "table5" and row["paper_median"] == 0.800 and row["difference"] == pytest.approx(0.003)


def test_welch_t_and_p_follow_their_formulas_and_single_seed_cells_are_skipped():
    rng = np.random.default_rng(0)
    rows = []
    for model, shift in (("ResNet", 0.0), ("ViT", 0.05), ("Solo", 0.0)):
        for seed in range(5 if model != "Solo" else 1):
            rows.append({"dataset": "D", "init": "imagenet", "protocol": "finetune", "model": model,
                         "seed": seed, "value": 0.8 + shift + rng.normal(0, 0.01)})
    runs = pd.DataFrame(rows)
    tests = welch_tests(runs, {"ResNet": "cnn", "ViT": "vit", "Solo": "vit"})
    assert len(tests) == 1
    # Welch's t and its Welch–Satterthwaite degrees of freedom from their formulas, not scipy's t-test
    a, b = runs[runs.model == "ResNet"].value.to_numpy(), runs[runs.model == "ViT"].value.to_numpy()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    t = (a.mean() - b.mean()) / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    assert tests.loc[0, "t"] == pytest.approx(t, rel=1e-10)
    assert tests.loc[0, "p_value"] == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-8)
    assert tests.loc[0, "t"] < 0 and tests.loc[0, "p_value"] < 0.01  # the CNN side is first: its mean is lower


def test_welch_between_two_deterministic_sides_says_so_instead_of_nan():
    """Five seeds of one pretrained encoder's k-NN: the same float each time. np.std of five equal
    floats is not always 0 (their mean need not be the value itself), which once gave t ~ 1e15."""
    value = 0.9350724237877682
    assert np.std([value] * 5) > 0  # the trap
    rows = [{"dataset": "D", "init": "imagenet", "protocol": "knn", "model": model, "seed": seed, "value": v}
            for model, v in (("ResNet", value), ("ViT", 0.1)) for seed in range(5)]
    rows += [{"dataset": "D", "init": "random", "protocol": "knn", "model": model, "seed": seed,
              "value": base + 0.01 * seed ** 2} for model, base in (("ResNet", 0.6), ("ViT", 0.5)) for seed in range(5)]
    tests = welch_tests(pd.DataFrame(rows), {"ResNet": "cnn", "ViT": "vit"}).set_index("init")
    assert tests.loc["imagenet", "deterministic"] and np.isnan(tests.loc["imagenet", "t"])
    assert not tests.loc["random", "deterministic"] and np.isfinite(tests.loc["random", "t"])
    markdown = welch_markdown(tests.reset_index(), "s")
    assert "| D | imagenet | knn | ResNet | ViT | 0.935 | 0.100 | n/a (deterministic) | n/a |" in markdown
    assert "nan" not in markdown


def test_segmentation_runs_sit_beside_table_2():
    from vitmed.report.compare import published_comparison

    runs = pd.DataFrame([{"dataset": "ISIC2018", "model": "DeiT-S", "init": "imagenet", "seed": seed,
                          "protocol": "segmentation", "metric": "iou", "value": value, "weights": "timm hub",
                          "n_parameters": 1} for seed, value in enumerate([0.83, 0.85, 0.84])])
    table = published_comparison(runs, {}).set_index(["table", "dataset", "model"])
    row = table.loc[("table2", "ISIC2018", "DeiT-S")]
    assert row["median"] == pytest.approx(0.84) and row["paper_median"] == 0.845
    assert row["difference"] == pytest.approx(-0.005) and bool(row["within_paper_std"])
    assert np.isnan(table.loc[("table2", "CSAW-S", "ResNet50"), "median"])  # the paper's cell, not run

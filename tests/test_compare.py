"""The published numbers, the comparison table and the Welch t-tests."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vitmed.report.compare import (
    compare_with_published,
    comparison_markdown,
    load_published,
    welch_markdown,
    welch_tests,
)


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


def test_the_foundation_papers_tables_are_complete_and_spot_checked():
    published = load_published("foundation")
    counts = published.groupby(["table", "protocol"]).size().to_dict()
    assert counts == {("table1", "frozen_linear"): 32, ("table1", "frozen_appended"): 20, ("table2", "finetune"): 32,
                      ("table2", "appended"): 20, ("table3", "finetune_1024"): 20}
    cell = published.set_index(["protocol", "dataset", "model"])
    assert cell.loc[("frozen_linear", "ISIC2019", "SAM"), "median"] == 0.402
    assert cell.loc[("frozen_appended", "CheXpert", "DINOv2"), "median"] == 0.798
    assert cell.loc[("finetune", "ISIC2019", "DINOv2"), "median"] == 0.859
    assert cell.loc[("appended", "APTOS2019", "BLIP"), "std"] == 0.001
    assert cell.loc[("finetune_1024", "DDSM", "SEEM"), "median"] == 0.967
    assert published.loc[published["protocol"] == "finetune_1024", "std"].isna().all()
    # Table 3's bracketed gains (printed) = Table 3 minus Table 2's Linear row, in points, but for five cells
    printed = {("SAM", "APTOS2019"): 1.4, ("SAM", "DDSM"): 3.4, ("SAM", "ISIC2019"): 0.6, ("SAM", "CheXpert"): 1.9,
               ("SEEM", "APTOS2019"): 0.9, ("SEEM", "DDSM"): 0.2, ("SEEM", "ISIC2019"): 3.3, ("SEEM", "CheXpert"): 1.3,
               ("OpenCLIP", "APTOS2019"): 0.1, ("OpenCLIP", "DDSM"): 3.5, ("OpenCLIP", "ISIC2019"): 3.4,
               ("OpenCLIP", "CheXpert"): 0.7, ("DINOv2", "APTOS2019"): 0.8, ("DINOv2", "DDSM"): 1.7,
               ("DINOv2", "ISIC2019"): 3.6, ("DINOv2", "CheXpert"): 1.3, ("BLIP", "APTOS2019"): 1.2,
               ("BLIP", "DDSM"): 2.9, ("BLIP", "ISIC2019"): 3.3, ("BLIP", "CheXpert"): 1.4}
    mismatched = {key for key, gain in printed.items()
                  if abs(100 * (cell.loc[("finetune_1024", key[1], key[0]), "median"]
                                - cell.loc[("finetune", key[1], key[0]), "median"]) - gain) > 0.051}
    assert mismatched == {("SEEM", "DDSM"), ("BLIP", "APTOS2019"), ("BLIP", "DDSM"), ("BLIP", "ISIC2019"),
                          ("BLIP", "CheXpert")}


def test_the_self_attention_papers_table_2_and_its_significance_marks():
    """Their Table 2 as fractions; Welch's test from its means and stds over 10 splits gives their
    bold marks on 36 of the 40 variant cells (the four others named in the file's header)."""
    from vitmed.report.compare import welch_t_from_stats

    published = load_published("self_attention")
    assert len(published) == 56 and set(published["protocol"]) == {"finetune", "ood"}
    cell = published.set_index(["protocol", "dataset", "model"])
    assert cell.loc[("finetune", "ISIC-3", "ResNet18"), "median"] == pytest.approx(0.739)
    assert cell.loc[("ood", "Camelyon17", "EfficientNet-B0-GA"), "std"] == pytest.approx(0.0024)
    assert cell.loc[("finetune", "ISIC-3", "ViT-T-21K"), "median"] == pytest.approx(0.750)
    disagree = []
    for (protocol, dataset, model), row in cell.iterrows():
        base = "ResNet18" if model.startswith("ResNet18") else "EfficientNet-B0"
        if model.startswith("ViT") or model == base:
            continue
        reference = cell.loc[(protocol, dataset, base)]
        _, p = welch_t_from_stats((row["median"], row["std"], 10), (reference["median"], reference["std"], 10))
        if (p < 0.05) != row["significant"]:
            disagree.append((protocol, dataset, model))
    assert sorted(disagree) == [("finetune", "Camelyon17", "ResNet18-ELA"), ("ood", "Camelyon17", "ResNet18-ELA"),
                                ("ood", "Camelyon17", "ResNet18-GA-LA"), ("ood", "Camelyon17", "ResNet18-LA")]


def test_a_study_is_compared_with_its_own_papers_numbers():
    from vitmed.report.compare import published_comparison

    runs = pd.DataFrame([{"protocol": protocol, "dataset": "DDSM", "model": "DINOv2", "init": "pretrained",
                          "metric": "roc_auc", "weights": "timm-hub", "seed": seed, "value": value + 0.001 * seed}
                         for protocol, value in (("finetune", 0.960), ("linear_probe", 0.9)) for seed in range(3)])
    table = published_comparison(runs, {}, paper="foundation")
    assert len(table) == 124 and table["median"].notna().sum() == 1  # only Table 2's cell was run
    row = table[table["median"].notna()].iloc[0]
    assert (row["table"], row["protocol"]) == ("table2", "finetune")
    assert row["difference"] == pytest.approx(0.961 - 0.966) and not row["within_paper_std"]  # std 0.003
    assert "0.967 |" in comparison_markdown(table, "f")  # Table 3 has no published std
    with pytest.raises(ValueError, match="no published numbers for paper 'other'"):
        load_published("other")
    # a frozen encoder with a fine-tuned linear head (ablations.freezing, frozen: true) is their Table 1's Linear row
    frozen = runs[runs["protocol"] == "finetune"].assign(model="DINOv2-frozen", value=[0.90, 0.91, 0.92])
    table = published_comparison(pd.concat([runs, frozen]), {}, paper="foundation",
                                 scenarios={"DINOv2-frozen": ("DINOv2", "frozen_linear")})
    row = table[(table["protocol"] == "frozen_linear") & table["median"].notna()].iloc[0]
    assert (row["table"], row["model"], row["median"]) == ("table1", "DINOv2", pytest.approx(0.91))
    assert row["paper_median"] == 0.905 and table["median"].notna().sum() == 2


def test_welch_from_published_statistics_follows_its_formula():
    """t = (m1 - m2) / sqrt(s1²/n1 + s2²/n2) on Welch–Satterthwaite's degrees of freedom (4.32
    here, where Student's test would take 8)."""
    from vitmed.report.compare import welch_t_from_stats

    (m1, s1, n1), (m2, s2, n2) = (0.80, 0.01, 5), (0.75, 0.05, 5)
    v1, v2 = s1**2 / n1, s2**2 / n2
    t = (m1 - m2) / np.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    assert df == pytest.approx(4.32, abs=0.005)
    assert welch_t_from_stats((m1, s1, n1), (m2, s2, n2)) == pytest.approx((t, 2 * stats.t.sf(abs(t), df)))
    assert np.isnan(welch_t_from_stats((0.8, 0.0, 5), (0.7, 0.0, 5))[1])  # no variance on either side

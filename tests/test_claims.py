"""The claims check: each relation and scope on hand-made runs whose verdict is known, and the
ViT paper's headline findings on its own published numbers."""
import pandas as pd
import pytest

from vitmed.report.claims import (
    PAPER_CAPACITY,
    PAPER_FAMILIES,
    PAPER_PATCH_SIZES,
    check_claims,
    claims_markdown,
    claims_table,
    load_claims,
    published_runs,
)

FAMILIES = {"C": "cnn", "V": "vit"}


def runs_of(cells: dict) -> pd.DataFrame:
    """{(protocol, dataset, init, model): [values over seeds]} -> a runs table."""
    return pd.DataFrame([{"protocol": p, "dataset": d, "init": i, "model": m, "seed": s, "value": v}
                         for (p, d, i, m), values in cells.items() for s, v in enumerate(values)])


def claim(relation: str, scope: str = "every", protocol: str = "finetune", init_a: str = "random",
          init_b: str = "random", select_a: str = "family:cnn", select_b: str = "family:vit") -> pd.DataFrame:
    return pd.DataFrame([{"id": "c", "paper": "p", "finding": "f", "protocol": protocol, "select_a": select_a,
                          "init_a": init_a, "select_b": select_b, "init_b": init_b, "relation": relation,
                          "scope": scope}])


def verdict(runs, claims, **kwargs) -> pd.Series:
    return check_claims(runs, claims, families=FAMILIES, capacity=kwargs.get("capacity", {}),
                        patch_sizes={}, ablation_init="imagenet").iloc[0]


def test_greater_every_dataset_with_welch_p():
    runs = runs_of({("finetune", "A", "random", "C"): [0.80, 0.82, 0.81],
                    ("finetune", "A", "random", "V"): [0.70, 0.71, 0.72],
                    ("finetune", "B", "random", "C"): [0.60, 0.61, 0.62],
                    ("finetune", "B", "random", "V"): [0.65, 0.66, 0.64]})
    row = verdict(runs, claim("greater"))
    assert row["verdict"] == "does not hold" and row["datasets_holding"] == "1 of 2"  # B: the ViT is above
    assert row["mean_effect"] == pytest.approx(((0.81 - 0.71) + (0.61 - 0.65)) / 2)
    assert row["min_p_value"] < 0.01
    assert verdict(runs, claim("greater", scope="some"))["verdict"] == "holds"
    assert verdict(runs, claim("greater", scope="mean"))["verdict"] == "holds"  # mean effect +0.03


def test_on_par_is_no_significant_difference_and_at_least_adds_the_better_side():
    noisy = {("finetune", "A", "imagenet", "C"): [0.80, 0.84, 0.78, 0.83],
             ("finetune", "A", "imagenet", "V"): [0.81, 0.79, 0.85, 0.80]}
    assert verdict(runs_of(noisy), claim("on_par", init_a="imagenet", init_b="imagenet"))["verdict"] == "holds"
    apart = {("finetune", "A", "imagenet", "C"): [0.70, 0.71, 0.70],
             ("finetune", "A", "imagenet", "V"): [0.80, 0.81, 0.80]}
    assert verdict(runs_of(apart), claim("on_par", init_a="imagenet", init_b="imagenet"))["verdict"] == "does not hold"
    vit_better = claim("at_least", init_a="imagenet", init_b="imagenet", select_a="family:vit", select_b="family:cnn")
    assert verdict(runs_of(apart), vit_better)["verdict"] == "holds"


def test_gains_more_compares_the_gains_of_the_two_families():
    runs = runs_of({("finetune", "A", "random", "C"): [0.80], ("finetune", "A", "imagenet", "C"): [0.85],
                    ("finetune", "A", "random", "V"): [0.60], ("finetune", "A", "imagenet", "V"): [0.84]})
    gains = claim("gains_more", scope="mean", init_a="imagenet", init_b="random", select_a="family:vit",
                  select_b="family:cnn")
    row = verdict(runs, gains)
    assert row["verdict"] == "holds" and row["mean_effect"] == pytest.approx(0.24 - 0.05)


def test_family_selection_takes_the_best_model_and_missing_cells_are_not_run():
    runs = runs_of({("finetune", "A", "random", "C"): [0.5, 0.5], ("finetune", "A", "random", "C2"): [0.9, 0.9],
                    ("finetune", "A", "random", "V"): [0.7, 0.7]})
    families = {"C": "cnn", "C2": "cnn", "V": "vit"}
    row = check_claims(runs, claim("greater"), families=families, capacity={}, patch_sizes={},
                       ablation_init="imagenet").iloc[0]
    assert row["verdict"] == "holds" and row["mean_effect"] == pytest.approx(0.2)  # C2, not C
    assert verdict(runs, claim("greater", protocol="knn"))["verdict"] == "not run in this study"
    capacity = claim("greater", select_a="capacity:cnn:largest", select_b="capacity:cnn:smallest")
    assert verdict(runs, capacity)["verdict"] == "not run in this study"  # no capacity ablation
    row = check_claims(runs, capacity, families=families, capacity={"cnn": ["C", "C2"]}, patch_sizes={},
                       ablation_init="random").iloc[0]
    assert row["verdict"] == "holds"


def test_the_published_numbers_support_the_vit_papers_headline_findings():
    paper = check_claims(published_runs(), load_claims(), families=PAPER_FAMILIES, capacity=PAPER_CAPACITY,
                         patch_sizes=PAPER_PATCH_SIZES, ablation_init="imagenet").set_index("id")
    # Table 1: random init, the best CNN above the best ViT on all five datasets
    assert paper.loc["vit-1", "verdict"] == "holds" and paper.loc["vit-1", "datasets_holding"] == "5 of 5"
    for finding in ("vit-2", "vit-4", "vit-8", "vit-9", "vit-11"):
        assert paper.loc[finding, "verdict"] == "holds", finding
    assert paper.loc["vit-11", "datasets"] == "CSAW-S, ISIC2018"  # Table 2


def test_the_claims_table_puts_the_published_verdict_beside_ours_and_says_synthetic():
    runs = runs_of({("finetune", "APTOS2019", "random", "C"): [0.8, 0.82],
                    ("finetune", "APTOS2019", "random", "V"): [0.6, 0.62]})
    table = claims_table(runs, families=FAMILIES, capacity={}, patch_sizes={}, ablation_init="imagenet")
    assert len(table) == len(load_claims())
    vit_paper = table["paper"] == "ViT paper"  # the companion papers' numbers are not in published.csv
    assert (table.loc[vit_paper, "as_published"] != "not run in this study").all()
    assert (table.loc[~vit_paper, "as_published"] == "not run in this study").all() and (~vit_paper).sum() == 3
    first = table.set_index("id").loc["vit-1"]
    assert first["verdict"] == "holds" and first["as_published"] == "holds"
    markdown = claims_markdown(table, "s", synthetic=True)
    assert "Synthetic data" in markdown and "| vit-1 |" in markdown


def test_no_variant_significantly_above_its_cnn_tests_each_variant_against_its_own_base():
    runs = runs_of({("finetune", "A", "imagenet", "R"): [0.70, 0.71, 0.69, 0.70],
                    ("finetune", "A", "imagenet", "R-GA"): [0.71, 0.69, 0.72, 0.70],   # not significant
                    ("finetune", "A", "imagenet", "E"): [0.60, 0.61, 0.60, 0.59],
                    ("finetune", "A", "imagenet", "E-LA"): [0.55, 0.56, 0.55, 0.54]})  # significantly worse
    no_gain = claim("no_variant_significantly_greater", init_a="imagenet", init_b="imagenet",
                    select_a="self_attention:variants", select_b="self_attention:base")
    groups = {"R": ["R-GA"], "E": ["E-LA"]}
    kwargs = {"families": FAMILIES, "capacity": {}, "patch_sizes": {}, "ablation_init": "imagenet"}
    row = check_claims(runs, no_gain, self_attention=groups, **kwargs).iloc[0]
    assert row["verdict"] == "holds" and row["min_p_value"] < 0.01  # the significant one is a loss
    better = runs_of({("finetune", "A", "imagenet", "E-LA"): [0.66, 0.67, 0.66, 0.65]})
    row = check_claims(pd.concat([runs[runs["model"] != "E-LA"], better]), no_gain, self_attention=groups,
                       **kwargs).iloc[0]
    assert row["verdict"] == "does not hold" and row["mean_effect"] == pytest.approx(0.06)
    assert check_claims(runs, no_gain, **kwargs).iloc[0]["verdict"] == "not run in this study"  # no variants

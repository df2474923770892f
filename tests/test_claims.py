"""The claims check: each relation and scope on hand-made runs whose verdict is known, and the
ViT paper's headline findings on its own published numbers."""
import numpy as np
import pandas as pd
import pytest

from vitmed.report.claims import (
    PAPER_CAPACITY,
    PAPER_FAMILIES,
    PAPER_PATCH_SIZES,
    attention_runs,
    check_claims,
    claims_markdown,
    claims_table,
    load_claims,
    published_runs,
    published_usage_runs,
    published_verdicts,
    usage_runs,
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
    assert set(table["paper"]) == {"ViT paper", "Foundation paper", "Self-attention paper"}
    # every paper's numbers are transcribed: a claim is "not in its tables" only where it rests on a figure
    # (attention distances, k-NN of the foundation paper, progressive freezing) or on vitmed's own protocol
    figures = table.set_index("id")["as_published"] == "not in its tables"
    assert sorted(figures[figures].index) == ["fm-12", "fm-13", "fm-15", "fm-16", "fm-17", "fm-18", "fm-3", "fm-8",
                                              "fm-9", "vit-12"]
    assert not (table["as_published"] == "no published numbers").any()
    first = table.set_index("id").loc["vit-1"]
    assert first["verdict"] == "holds" and first["as_published"] == "holds"
    assert (table.set_index("id").drop("vit-1")["verdict"] == "not run in this study").all()
    markdown = claims_markdown(table, "s", synthetic=True)
    assert "Synthetic data" in markdown and "| vit-1 |" in markdown and "| fm-14 |" in markdown


def test_the_companion_papers_numbers_give_their_verdicts():
    """Foundation paper: Table 2's DINOv2 above ImNet-1k-Sup on all four datasets; Table 1 below
    Table 2 for most models on every dataset; Table 3 above Table 2's linear rows everywhere.
    Self-attention paper: no variant significantly above its CNN (Welch from the published means,
    stds and 10 splits), but its "ViT-T 1K significantly worse than the ResNet" is not supported by
    its own numbers (73.9 ± 1.74 vs 66.0 ± 17.36: p = 0.19)."""
    table = published_verdicts(load_claims()).join(load_claims()["id"]).set_index("id")
    for finding in ("fm-1", "fm-2", "fm-14"):
        assert table.loc[finding, "as_published"] == "holds", finding
        assert table.loc[finding, "published_datasets_holding"] == "4 of 4", finding
    assert table.loc["fm-5", "published_datasets_holding"] == "3 of 4"  # CheXpert: 0.798 frozen vs 0.797
    assert table.loc["sa-1", "as_published"] == "holds"
    assert table.loc["sa-4", "as_published"] == "does not hold"
    assert table.loc["vit-3", "as_published"] == "does not hold"  # ImageNet ViTs significantly above CNNs
    # their Table 3 supports the feature-usage findings of their text but "dermoscopic structures ... never
    # learned": the table marks ResNet18-LA (+LA) as using them
    for finding in ("sa-8", "sa-9", "sa-11", "sa-12", "sa-13", "sa-14", "sa-15", "sa-16", "sa-17"):
        assert table.loc[finding, "as_published"] == "holds", finding
    assert table.loc["sa-10", "as_published"] == "does not hold"
    runs = published_runs(paper="self_attention")
    assert set(runs["n"]) == {10} and len(runs) == 56


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


def test_feature_usage_claims_count_the_models_of_a_group():
    usage = pd.DataFrame([(model, feature, used) for model, marks in {
        "R": (1, 1, None), "R-GA": (1, 0, None), "R-LA": (0, 1, None), "E": (1, 0, None), "E-GA": (0, 0, None),
        "V": (1, 1, None)}.items() for feature, used in zip(("age", "sex", "dermoscopic_structures"), marks)],
        columns=["model", "feature", "used"]).astype({"used": "boolean"})
    runs = usage_runs(usage, "ISIC", "imagenet")
    assert len(runs) == 12 and set(runs["protocol"]) == {"usage_age", "usage_sex"}  # untested D left out
    assert runs.set_index(["model", "protocol"]).loc[("R-LA", "usage_age"), "value"] == 0.0
    kwargs = {"families": {"R": "cnn", "E": "cnn", "V": "vit"}, "capacity": {}, "patch_sizes": {},
              "ablation_init": "imagenet", "self_attention": {"R": ["R-GA", "R-LA"], "E": ["E-GA"]}}

    def usage_verdict(relation, protocol, select_a="models:all", select_b="models:all"):
        claims = claim(relation, protocol=protocol, init_a="ablation", init_b="ablation", select_a=select_a,
                       select_b=select_b)
        return check_claims(runs, claims, **kwargs).iloc[0]

    assert usage_verdict("used_by_most", "usage_age")["verdict"] == "holds"  # 4 of 6
    assert usage_verdict("used_by_all", "usage_age")["verdict"] == "does not hold"
    assert usage_verdict("used_by_all", "usage_age", "models:bases")["verdict"] == "holds"  # R and E
    assert usage_verdict("used_by_all", "usage_age", "models:family:vit")["mean_effect"] == 1.0
    cnn = usage_verdict("used_by_few", "usage_age", "models:family:cnn")  # 3 of the 5 CNNs (variants too)
    assert cnn["verdict"] == "does not hold" and cnn["mean_effect"] == pytest.approx(0.6)
    more = usage_verdict("used_more_often", "usage_sex", "models:with:R", "models:with:E")
    assert more["verdict"] == "holds" and more["mean_effect"] == pytest.approx(2 / 3 - 0)
    assert usage_verdict("used_by_none", "usage_dermoscopic_structures")["verdict"] == "not run in this study"
    with pytest.raises(ValueError, match="a used_\\* relation needs a models: selection"):
        usage_verdict("used_by_all", "usage_age", "family:cnn")
    published = published_usage_runs()
    assert len(published) == 14 * 8 and published["value"].sum() == 80  # the checkmarks of their Table 3


def test_paired_selections_hold_where_most_pairs_do():
    """``each``: every model against itself under the other protocol; a dataset holds where more
    than half of its pairs hold; ``most``: more than half of the datasets."""
    cells = {}
    for dataset, frozen_wins in (("A", 0), ("B", 1), ("C", 2)):  # models whose frozen score is higher
        for k, model in enumerate(("M1", "M2", "M3")):
            tuned, frozen = 0.8, (0.9 if k < frozen_wins else 0.7)
            cells[("finetune", dataset, "pretrained", model)] = [tuned, tuned + 0.01, tuned - 0.01]
            cells[("frozen_linear", dataset, "pretrained", model)] = [frozen, frozen + 0.01, frozen - 0.01]
    runs = runs_of(cells)
    tuned_above = claim("greater", scope="most", protocol="finetune/frozen_linear", init_a="pretrained",
                        init_b="pretrained", select_a="each", select_b="each")
    row = verdict(runs, tuned_above)
    assert row["datasets_holding"] == "2 of 3" and row["verdict"] == "holds"  # A: 3 of 3 pairs, B: 2, C: 1
    assert row["mean_effect"] == pytest.approx(((0.1 * 3) + (0.1 * 2 - 0.1) + (0.1 - 0.2)) / 9)
    assert verdict(runs, tuned_above.assign(scope="every"))["verdict"] == "does not hold"
    assert verdict(runs, tuned_above.assign(protocol="finetune/frozen_appended"))["verdict"] == "not run in this study"


def test_frozen_selections_follow_each_freezing_base():
    runs = runs_of({("finetune", "A", "imagenet", "V"): [0.80, 0.81, 0.79],
                    ("finetune", "A", "imagenet", "V-f4"): [0.80, 0.80, 0.79],
                    ("finetune", "A", "imagenet", "V-f8"): [0.79, 0.80, 0.78],
                    ("finetune", "A", "imagenet", "V-f11"): [0.60, 0.62, 0.61]})
    freezing = {"V": {4: "V-f4", 8: "V-f8", 11: "V-f11"}}
    kwargs = {"families": FAMILIES, "capacity": {}, "patch_sizes": {}, "ablation_init": "imagenet",
              "freezing": freezing}
    marginal = claim("at_least", scope="most", init_a="ablation", init_b="ablation", select_a="frozen:8",
                     select_b="frozen:0")
    decline = marginal.assign(relation="significantly_greater", select_b="frozen:deepest")
    row = check_claims(runs, marginal, **kwargs).iloc[0]
    assert row["verdict"] == "holds" and row["mean_effect"] == pytest.approx(-0.01)  # on par: p > 0.05
    row = check_claims(runs, decline, **kwargs).iloc[0]
    assert row["verdict"] == "holds" and row["mean_effect"] == pytest.approx(0.18) and row["min_p_value"] < 0.001
    # a drop that is not significant is no "significant decline"
    close = runs_of({("finetune", "A", "imagenet", "V-f11"): [0.78, 0.81, 0.80]})
    assert check_claims(pd.concat([runs[runs["model"] != "V-f11"], close]), decline,
                        **kwargs).iloc[0]["verdict"] == "does not hold"
    assert check_claims(runs, decline, **dict(kwargs, freezing={})).iloc[0]["verdict"] == "not run in this study"


def test_best_and_best_other_selections():
    runs = runs_of({("knn", "A", "pretrained", "D1"): [0.9], ("knn", "A", "pretrained", "D2"): [0.8],
                    ("knn", "A", "pretrained", "Sup"): [0.7]})
    best_overall = claim("greater", select_a="model:D1", select_b="best_other", protocol="knn",
                         init_a="pretrained", init_b="pretrained")
    row = verdict(runs, best_overall)
    assert row["verdict"] == "holds" and row["mean_effect"] == pytest.approx(0.1)  # against D2, not itself
    assert verdict(runs, best_overall.assign(select_a="model:D2"))["mean_effect"] == pytest.approx(-0.1)
    poor = best_overall.assign(select_a="best", select_b="model:Sup")
    assert verdict(runs, poor)["mean_effect"] == pytest.approx(0.2)
    assert verdict(runs, poor.assign(select_b="model:D1"))["verdict"] == "does not hold"  # the best is D1 itself


def test_published_cells_are_tested_from_their_means_stds_and_repetitions():
    """One row per published cell with std and n: Welch's t-test from the statistics (scipy's
    ttest_ind_from_stats), equal to the test over seeds with those means and stds."""
    from scipy import stats

    a, b = np.array([0.80, 0.82, 0.81, 0.83, 0.79]), np.array([0.78, 0.80, 0.77, 0.79, 0.76])
    published = pd.DataFrame([{"protocol": "finetune", "dataset": "A", "init": "random", "model": m, "seed": 0,
                               "value": v.mean(), "std": v.std(ddof=1), "n": 5} for m, v in (("C", a), ("V", b))])
    on_par = claim("on_par")
    row = verdict(published, on_par)
    assert row["min_p_value"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert row["verdict"] == "does not hold"  # p = 0.02: significantly apart
    assert verdict(published.assign(n=2), on_par)["verdict"] == "holds"  # two repetitions: not significant


def test_attention_distances_become_first_and_last_layer_cells():
    table = pd.DataFrame([{"dataset": "A", "model": "V", "init": "imagenet", "stage": stage, "layer": layer,
                           "head": head, "distance": 10.0 * layer + head + (100 if stage == "initialized" else 0)}
                          for stage in ("initialized", "finetuned") for layer in (2, 0, 1) for head in (0, 1)])
    cells = attention_runs(table).set_index("protocol")["value"]
    assert cells.to_dict() == {"attention_first_layer": 0.5, "attention_last_layer": 20.5}  # fine-tuned, head mean
    more_global = load_claims().set_index("id").loc[["vit-12"]].reset_index()
    runs = attention_runs(table)
    assert verdict(runs, more_global)["verdict"] == "holds"
    flipped = attention_runs(table.assign(distance=-table["distance"]))
    assert verdict(flipped, more_global)["verdict"] == "does not hold"


def test_figure_3s_times_are_claims_on_the_runs_own_measurements():
    """fm-16: a frozen foundation's linear head takes more steps to its best epoch than the unfrozen
    one; fm-18: an appended classifier costs inference time. Each fine-tuning run's measurements
    become cells of steps_<scenario> and inference_<scenario>."""
    from vitmed.report.claims import timing_runs

    rows = []
    for model, steps, seconds in (("F", [100, 110], [1e-3, 1e-3]), ("F-frozen", [300, 320], [1e-3, 1e-3]),
                                  ("F-app", [120, 130], [3e-3, 3e-3])):
        for dataset in ("A", "B"):
            for seed, (s, t) in enumerate(zip(steps, seconds)):
                rows.append({"dataset": dataset, "model": model, "init": "pretrained", "seed": seed,
                             "protocol": "finetune", "metric": "roc_auc", "value": 0.8, "best_iteration": s,
                             "seconds_per_image": t})
    runs = pd.DataFrame(rows)
    cells = timing_runs(runs)
    assert set(cells["protocol"]) == {"steps_finetune", "inference_finetune"} and len(cells) == 2 * len(runs)
    assert cells[cells["protocol"] == "steps_finetune"]["value"].tolist() == runs["best_iteration"].tolist()
    scenarios = {"F-frozen": ("F", "frozen_linear"), "F-app": ("F", "appended")}
    table = claims_table(runs, families={"F": "vit"}, capacity={}, patch_sizes={}, ablation_init="pretrained",
                         scenarios=scenarios).set_index("id")
    assert table.loc["fm-16", "verdict"] == table.loc["fm-18", "verdict"] == "holds"
    assert table.loc["fm-16", "mean_effect"] == pytest.approx(310 - 105)
    slow = runs.assign(seconds_per_image=np.where(runs["model"] == "F-app", 1e-4, runs["seconds_per_image"]))
    table = claims_table(slow, families={"F": "vit"}, capacity={}, patch_sizes={}, ablation_init="pretrained",
                         scenarios=scenarios).set_index("id")
    assert table.loc["fm-18", "verdict"] == "does not hold"

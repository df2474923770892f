"""The hyperparameter search: grid points, runs (divergence recorded), the choice, its table."""
import copy
import math

import pandas as pd
import pytest
import torch
from helpers import SYNTHETIC, load_preset
from test_finetune import hyperparameters, skin_store  # noqa: F401  (a fixture)
from test_study import study_of

from vitmed.report.search import fixed_values, search_markdown, search_table
from vitmed.train.search import choose, search_run

POINTS = {"lr0.001": {"lr": 1e-3}, "lr0.01": {"lr": 1e-2}, "lr0.1": {"lr": 1e-1}}


def runs(values: dict[str, list[float]]) -> pd.DataFrame:
    """Search runs; a NaN validation metric marks a diverged run."""
    return pd.DataFrame([{"point": point, "seed": seed, "val_best": value, "diverged": math.isnan(value)}
                         for point, vals in values.items() for seed, value in enumerate(vals)])


def test_the_best_mean_validation_metric_is_chosen_ties_to_the_earlier_point():
    choice = choose(runs({"lr0.001": [0.6, 0.8], "lr0.01": [0.9, 0.7], "lr0.1": [0.75, 0.75]}), POINTS, "here")
    assert choice["point"] == "lr0.01" and choice["chosen"] == {"lr": 1e-2}  # means 0.7, 0.8, 0.75
    choice = choose(runs({"lr0.001": [0.6, 0.8], "lr0.01": [0.9, 0.8], "lr0.1": [0.85, 0.85]}), POINTS, "here")
    assert choice["point"] == "lr0.01"  # 0.85 both: the earlier point of the grid
    summary = pd.DataFrame(choice["points"]).set_index("point")
    assert summary.loc["lr0.001", "val_mean"] == pytest.approx(0.7)
    assert summary.loc["lr0.01", "val_std"] == pytest.approx(math.sqrt(0.005))  # ddof 1
    assert list(summary.index) == list(POINTS) and (summary["n_seeds"] == 2).all()


def test_a_point_with_a_diverged_run_is_never_chosen_and_is_counted():
    values = {"lr0.001": [0.6, 0.6], "lr0.01": [0.7, 0.7], "lr0.1": [0.99, float("nan")]}
    choice = choose(runs(values), POINTS, "here")
    summary = pd.DataFrame(choice["points"]).set_index("point")
    assert choice["point"] == "lr0.01" and summary.loc["lr0.1", "diverged"] == 1
    assert math.isnan(summary.loc["lr0.1", "val_mean"])
    with pytest.raises(ValueError, match=r"search/D/M/random/choice.json: every point of the search diverged"):
        choose(runs({point: [float("nan")] for point in POINTS}), POINTS, "search/D/M/random/choice.json")
    with pytest.raises(ValueError, match=r"here: no search runs for points \['lr0.1'\]"):
        choose(runs({"lr0.001": [0.6], "lr0.01": [0.7]}), POINTS, "here")


def test_a_diverging_point_is_recorded_and_leaves_no_weights(skin_store, tmp_path):  # noqa: F811
    torch.set_num_threads(1)
    model = {"timm_name": "test_resnet", "family": "cnn"}
    hp = hyperparameters(max_epochs=2, warmup_iters=0, optimizer="sgd")
    sane = search_run(model, None, skin_store, tmp_path / "sane", seed=0, hp=hp, override={}, point={"lr": 1e-2},
                      input_size=16, eval_crop="center")
    assert not sane["diverged"] and 0 <= sane["val_best"] <= 1 and sane["lr"] == 1e-2
    assert (tmp_path / "sane" / "log.csv").exists() and not (tmp_path / "sane" / "best.pt").exists()
    # the point's values replace the override's (here Piater et al.'s Table 5 entry would be)
    wild = search_run(model, None, skin_store, tmp_path / "wild", seed=0, hp=hp, override={"lr": 1e-3},
                      point={"lr": 1e12}, input_size=16, eval_crop="center")
    assert wild["diverged"] and math.isnan(wild["val_best"]) and wild["lr"] == 1e12
    assert not {"best.pt", "checkpoint.pt"} & {p.name for p in (tmp_path / "wild").iterdir()}


def test_the_study_plans_every_point_on_every_search_seed():
    config = load_preset(*SYNTHETIC)
    config["search"] = {"grid": {"lr": [1e-3, 1e-2], "weight_decay": [0.0, 1e-4, 1e-3]}, "seeds": [3, 4],
                        "models": ["ResNet-toy"]}
    study = study_of(config)
    assert list(study.search_points) == [f"lr{lr}_weight_decay{wd}" for lr in ("0.001", "0.01")
                                         for wd in ("0", "0.0001", "0.001")]
    assert study.search_points["lr0.01_weight_decay0.0001"] == {"lr": 1e-2, "weight_decay": 1e-4}
    # ResNet-toy on every dataset with every init (3), 6 points, 2 seeds
    assert len(study.search_runs()) == 5 * 3 * 6 * 2 and {run[4] for run in study.search_runs()} == {3, 4}
    assert study.search_choice("SynSkin", "ResNet-toy", "random") == [
        "results/synthetic/search/SynSkin/ResNet-toy/random/choice.json"]
    assert study.search_choice("SynSkin", "ViT-toy", "random") == []  # not searched
    assert "results/synthetic/tables/search.md" in study.final_outputs()
    config["search"]["apply"] = False
    assert study_of(config).search_choice("SynSkin", "ResNet-toy", "random") == []
    assert study_of(load_preset(*SYNTHETIC)).search_points == {}


@pytest.mark.parametrize("edit, expected", [
    (lambda c: c["search"].update(models=["Nope"]), "search.models: 'Nope' is not one of"),
    (lambda c: c["finetune"].update(overrides={"SynSkin": {"ResNet-toy": {"lr": 1e-3}}}),
     r"finetune.overrides.SynSkin.ResNet-toy: lr also searched \(search.grid\) and search.apply is true"),
])
def test_search_config_errors_name_their_key(edit, expected):
    config = load_preset(*SYNTHETIC)
    config["search"] = {"grid": {"lr": [1e-3, 1e-2]}}
    edit(config)
    with pytest.raises(ValueError, match=expected):
        study_of(copy.deepcopy(config))
    config["search"]["apply"] = False  # compared with the fixed values instead: allowed
    if "Nope" not in config["search"].get("models", []):
        study_of(config)


def test_the_table_sets_the_choice_beside_the_fixed_values():
    finetune = {"lr": {"pretrained": 1e-4, "random": 1e-3}, "weight_decay": 1e-5}
    keys = ["lr", "weight_decay"]
    assert fixed_values(finetune, {"lr": 1e-2}, "imagenet", keys) == {"lr": 1e-2, "weight_decay": 1e-5}
    assert fixed_values(finetune, {}, "random", ["lr"]) == {"lr": 1e-3}
    points = {"a": {"lr": 1e-3, "weight_decay": 0.0}, "b": {"lr": 1e-2, "weight_decay": 1e-5}}
    choice = choose(pd.DataFrame([{"point": p, "seed": s, "val_best": v, "diverged": False}
                                  for p, vs in {"a": [0.5, 0.7], "b": [0.8, 0.8]}.items()
                                  for s, v in enumerate(vs)]), points, "x")
    fixed = {("D", "M", "random"): {"lr": 1e-3, "weight_decay": 0.0},
             ("D", "N", "random"): {"lr": 1.0, "weight_decay": 0.0}}
    table = search_table({("D", "M", "random"): choice, ("D", "N", "random"): choice}, fixed)
    assert len(table) == 4 and table["chosen"].sum() == 2
    assert table[(table["model"] == "M") & table["fixed"]]["point"].tolist() == ["a"]
    markdown = search_markdown(table, fixed, {"D": "roc_auc"}, applied=False, over="data splits", study="s")
    assert "over data splits; the study's runs keep the fixed values (s)" in markdown
    assert ("| D (roc_auc) | M | random | lr 0.01, weight_decay 1e-05 | 0.800 ± 0.000 (n=2) | lr 0.001, weight_decay 0 "
            "| 0.600 ± 0.141 (n=2) | no | 0 of 2 |") in markdown
    assert "| lr 1, weight_decay 0 | not in the grid | no |" in markdown

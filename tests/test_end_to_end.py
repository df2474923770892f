"""The whole DAG on a tiny synthetic study, in a temporary directory."""
import json
import math

import numpy as np
import pandas as pd
import pytest
from helpers import SYNTHETIC, load_preset, run_snakemake


def tiny_study() -> dict:
    config = load_preset(*SYNTHETIC)
    config["study"] = "tiny"
    keep = {"SynSkin": 160, "SynChest": 160}  # a multiclass and a multi-label task
    config["datasets"] = {name: dict(config["datasets"][name], n_images=n) for name, n in keep.items()}
    config["imagenet"]["synthetic_source"].update(n_images=320, epochs=2)
    config["finetune"].update(max_epochs=2, warmup_iters=4)
    config["finetune"]["overrides"] = {"SynSkin": {"ResNet-toy": {"lr": 3e-4}}}  # one model on one dataset
    config["dino"].update(epochs=2, batch_size=32)
    config["ablations"]["datasets"] = ["SynSkin"]
    # the paper's ablation init (the demo uses random for its budget): variants start from their base's weights
    config["ablations"]["init"] = "imagenet"
    # an out-of-distribution test set: another draw of the same task
    config["datasets"]["SynSkin"]["ood_test"] = "SynSkin-B"
    config["test_datasets"] = {"SynSkin-B": {"source": "synthetic", "generator": "skin_lesions",
                                             "metric": "macro_recall", "n_images": 60}}
    return config


@pytest.mark.slow
def test_synthetic_study_end_to_end(tmp_path):
    config = tiny_study()
    result = run_snakemake(tmp_path, config, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    study = tmp_path / "results" / "tiny"

    runs = pd.read_parquet(study / "runs.parquet")
    assert set(runs["protocol"]) == {"finetune", "knn", "linear", "ood", "segmentation"}
    # ResNet-toy-L, ViT-toy-L, -p4, -f3, -frozen, ResNet-toy-GA/-LA/-ELA, ViT-toy's 4 appended-classifier
    # variants and ViT-toy-64 from imagenet on SynSkin x seeds; all but ViT-toy-64 also out of distribution
    ablation_only = 13 * 2
    segmentation = 2 * 2 * 2  # segmentation datasets x encoders x seeds
    # datasets x models x inits x seeds x protocols, and every SynSkin fine-tuning again on SynSkin-B
    assert len(runs) == 2 * 2 * 3 * 2 * 3 + ablation_only + (2 * 3 * 2 + ablation_only - 2) + segmentation
    ood = runs[runs["protocol"] == "ood"]
    assert set(ood["dataset"]) == {"SynSkin"} and ood["value"].between(0, 1).all()
    ood_table = pd.read_csv(study / "tables" / "ood.csv")
    assert len(ood_table) == 2 * 3 and set(ood_table["dataset"]) == {"SynSkin"} and (ood_table["n_seeds"] == 2).all()
    assert "SynSkin → SynSkin-B" in (study / "tables" / "ood.md").read_text()
    assert json.loads((study / "data" / "SynSkin-B" / "meta.json").read_text())["split_sizes"] == {
        "train": 0,
        "val": 0,
        "test": 60,
    }
    assert (runs["n_parameters"] > 100_000).all()
    assert runs["value"].map(math.isfinite).all()
    imagenet = runs[runs["init"] == "imagenet"]
    assert (imagenet["weights"] == "file:imagenet.pt").all()
    assert (runs[runs["init"] == "dino"]["weights"] == "file:teacher.pt").all()
    dino_log = pd.read_csv(study / "dino" / "SynSkin" / "ViT-toy" / "log.csv")
    assert len(dino_log) == 2 and {"loss", "lr", "weight_decay", "momentum", "teacher_temp"} <= set(dino_log.columns)

    for table, protocol in [("table1", "finetune"), ("table3", "knn"), ("linear_probe", "linear")]:
        cells = pd.read_csv(study / "tables" / f"{table}.csv")
        assert len(cells) == len(config["inits"]) * len(config["models"]) * len(config["datasets"])
        assert cells["median"].map(math.isfinite).all() and cells["std"].map(math.isfinite).all()
        assert (cells["n_seeds"] == 2).all()
        expected = runs[(runs["protocol"] == protocol) & (runs["dataset"] == "SynSkin") &
                        (runs["model"] == "ViT-toy") & (runs["init"] == "random")]["value"].median()
        cell = cells[(cells["dataset"] == "SynSkin") & (cells["model"] == "ViT-toy") & (cells["init"] == "random")]
        assert cell["median"].item() == pytest.approx(expected)
        markdown = (study / "tables" / f"{table}.md").read_text()
        assert "ImageNet (supervised) [file:imagenet.pt]" in markdown and "±" in markdown
        assert "ImageNet (supervised) + self-supervised with DINO [file:teacher.pt]" in markdown
        assert r"\begin{tabular}" in (study / "tables" / f"{table}.tex").read_text()

    # k-NN and linear probe of a pretrained encoder are one number for every seed
    frozen = runs[runs["protocol"].isin(["knn", "linear"]) & (runs["init"] == "imagenet")]
    assert (frozen.groupby(["dataset", "model", "protocol"])["value"].nunique() == 1).all()
    probes = json.loads((study / "linear" / "SynChest" / "metrics.json").read_text())
    assert {row["l2"] for row in probes} <= set(config["linear_probe"]["l2"]) and len(probes) == 2 * 3 * 2

    # Table 2: every cell finite, and learned: IoU well above an all-foreground prediction's (its
    # pixel share in the test split; an all-background one scores 0)
    table2 = pd.read_csv(study / "tables" / "table2.csv")
    assert len(table2) == 2 * 2 and set(table2["dataset"]) == {"SynLesionSeg", "SynMassSeg"}
    assert table2["median"].map(math.isfinite).all() and (table2["n_seeds"] == 2).all()
    for row in table2.itertuples():
        shares = pd.read_csv(study / "data" / row.dataset / "splits.csv").set_index(["class", "split"])
        lesion = json.loads((study / "data" / row.dataset / "meta.json").read_text())["classes"][1]
        foreground = shares.loc[(lesion, "test"), "pixel_fraction"]
        assert row.median > max(3 * foreground, 0.15), (row.dataset, row.model, row.median, foreground)
    segmented = runs[runs["protocol"] == "segmentation"]
    assert (segmented["metric"] == "iou").all() and segmented[["mean_iou", "dice"]].notna().all().all()
    assert (segmented["weights"] == "file:imagenet.pt").all()
    assert "SynMassSeg, IoU ↑" in (study / "tables" / "table2.md").read_text()
    assert np.load(study / "data" / "SynMassSeg" / "masks.npy", mmap_mode="r").shape[1:] == (48, 48)

    # the claims check: every finding evaluated on this study's runs, beside the published verdicts
    claims = pd.read_csv(study / "tables" / "claims.csv").set_index("id")
    assert len(claims) == 47 and set(claims["verdict"]) <= {"holds", "does not hold", "not run in this study"}
    # Piater et al.'s: every self-attention variant against its CNN, in and out of distribution
    assert claims.loc["sa-1", "datasets"] == "SynSkin" and claims.loc["sa-2", "datasets"] == "SynSkin"
    assert claims.loc["sa-3", "verdict"] == "not run in this study"  # no ViT-T-21K here
    assert claims.loc["vit-11", "datasets"] == "SynLesionSeg, SynMassSeg"  # Table 2's claim, on the segmentation
    assert claims.loc["vit-1", "verdict"] != "not run in this study" and (claims["as_published"] != "").all()
    assert "Synthetic data" in (study / "tables" / "claims.md").read_text()
    assert claims.loc["vit-12", "datasets"] == "SynChest, SynSkin"  # Figure 5: the fine-tuned ViTs
    assert claims.loc["fm-1", "verdict"] == "not run in this study" and claims.loc["fm-1", "as_published"] == "holds"
    assert claims.loc["fm-2", "datasets"] == "SynSkin"  # ViT-toy fine-tuned against ViT-toy-frozen's linear head
    # the appended classifier: frozen vs fine-tuned foundation, linear head vs appended classifier
    assert claims.loc["fm-7", "datasets"] == "SynSkin" and claims.loc["fm-6", "datasets"] == "SynSkin"
    # Figure 3's times: the frozen linear head's steps against the fine-tuned one's, the appended inference
    assert claims.loc["fm-16", "datasets"] == claims.loc["fm-18", "datasets"] == "SynSkin"
    assert claims.loc["fm-16", "as_published"] == "not in its tables"
    scenarios = pd.read_csv(study / "tables" / "scenarios.csv")
    assert list(zip(scenarios["scenario"], scenarios["classifier"], scenarios["model"])) == [
        ("frozen", "Linear", "ViT-toy-frozen"), ("frozen", "Appended", "ViT-toy-frozen-app"),
        ("unfrozen", "Linear", "ViT-toy"), ("unfrozen", "Appended", "ViT-toy-app")]
    assert scenarios["median"].map(math.isfinite).all() and (scenarios["foundation"] == "ViT-toy").all()
    decapitation = pd.read_csv(study / "tables" / "decapitation.csv")
    assert list(zip(decapitation["scenario"], decapitation["blocks"])) == [("unfrozen", 3), ("frozen", 3)]
    assert (study / "figures" / "decapitation.png").exists()
    # Table 3 at a higher resolution: ViT-toy at 64 px on SynSkin stored again at 72 px, with the same split
    resolution = pd.read_csv(study / "tables" / "resolution.csv")
    assert list(resolution["model"]) == ["ViT-toy-64"] and resolution["gain"].map(math.isfinite).all()
    resized = json.loads((study / "data" / "SynSkin" / "px72" / "meta.json").read_text())
    assert resized["image_size"] == 72 and resized["split_hash"] == json.loads(
        (study / "data" / "SynSkin" / "meta.json").read_text())["split_hash"]
    assert "ViT-toy-64" not in set(runs[runs["protocol"] == "ood"]["model"])
    times = pd.read_csv(study / "tables" / "times.csv").set_index("model")  # Figure 3, relative to ViT-toy
    assert times.loc["ViT-toy", "iterations_relative"] == times.loc["ViT-toy", "inference_relative"] == 1.0
    assert set(times.index) == {"ResNet-toy", "ViT-toy", "ViT-toy-frozen", "ViT-toy-app", "ViT-toy-frozen-app"}
    assert (times["inference_relative"] > 0).all()
    assert (runs[runs["protocol"] == "finetune"]["best_iteration"] > 0).all()

    # the ablations: two sizes per family (Table 4, Figure 3), two patch sizes (Table 5)
    table4 = pd.read_csv(study / "tables" / "table4.csv")
    assert list(table4["model"]) == ["ResNet-toy", "ResNet-toy-L", "ViT-toy", "ViT-toy-L"]
    assert table4["median"].map(math.isfinite).all() and (table4["n_seeds"] == 2).all()
    large = table4.set_index("model")["n_parameters"]
    assert large["ResNet-toy-L"] > large["ResNet-toy"] and large["ViT-toy-L"] > large["ViT-toy"]
    attention = pd.read_csv(study / "tables" / "self_attention.csv").set_index("model")
    variants = ["ResNet-toy-GA", "ResNet-toy-LA", "ResNet-toy-ELA"]
    assert list(attention.index) == ["ResNet-toy", *variants, "ViT-toy"] and (attention["n_seeds"] == 2).all()
    assert attention["mean"].map(math.isfinite).all() and attention["ood_mean"].map(math.isfinite).all()
    change = attention["parameter_change"]  # LA replaces convolutions by fewer weights, GA and ELA add some
    assert change["ResNet-toy-GA"] > 0 and change["ResNet-toy-LA"] < 0 < change["ResNet-toy-ELA"]
    assert math.isnan(change["ViT-toy"]) and math.isnan(attention.loc["ViT-toy", "p_value"])  # Table 2's ViT row
    assert "ResNet-toy-GA (vs ResNet-toy)" in (study / "tables" / "self_attention.md").read_text()
    assert (scenarios["n_seeds"] == 2).all()  # the foundation paper's Tables 1 and 2
    assert "| Linear, frozen: ViT-toy |" in (study / "tables" / "scenarios.md").read_text()
    assert "| Appended, unfrozen: ViT-toy |" in (study / "tables" / "scenarios.md").read_text()
    freezing = pd.read_csv(study / "tables" / "freezing.csv")
    assert list(freezing["model"]) == ["ViT-toy", "ViT-toy-f3"] and list(freezing["frozen_blocks"]) == [0, 3]
    assert freezing["median"].map(math.isfinite).all() and (freezing["n_seeds"] == 2).all()
    table5 = (study / "tables" / "table5.md").read_text()
    assert "ViT-toy (8×8 patches)" in table5 and "ViT-toy-p4 (4×4 patches)" in table5
    for figure in ("figure1", "figure2", "figure3", "figure5", "cka", "cka_models", "figure4", "freezing"):
        for ext in ("png", "pdf"):
            assert (study / "figures" / f"{figure}.{ext}").stat().st_size > 10_000

    distances = pd.read_parquet(study / "analysis" / "attention_distance.parquet")
    assert set(distances["stage"]) == {"initialized", "finetuned"} and set(distances["init"]) == set(config["inits"])
    assert distances["distance"].between(0, 32 * 2 ** 0.5).all()
    assert set(distances["model"]) == {"ViT-toy"}
    cka = pd.read_parquet(study / "analysis" / "cka_layers.parquet")
    assert set(cka["model"]) == {"ResNet-toy", "ViT-toy"} and cka["cka"].map(math.isfinite).all()
    assert (cka["cka"] <= 1 + 1e-9).all()
    saliency = np.load(study / "analysis" / "saliency" / "SynSkin.npz")
    assert saliency["grad_cam"].shape == (2, 32, 32) and saliency["attention"].shape[:1] == (2,)
    assert saliency["kept"].any() and not saliency["kept"].all()
    welch = pd.read_csv(study / "tables" / "welch.csv")
    # datasets x inits x protocols, the OOD test of SynSkin per init, and each segmentation dataset
    assert len(welch) == 2 * 3 * 3 + 3 + 2
    assert set(welch["protocol"]) == {"finetune", "knn", "linear", "ood", "segmentation"}
    across = pd.read_parquet(study / "analysis" / "cka_models.parquet")
    assert len(across) == len(config["datasets"]) * len(config["inits"]) * 2 * 2 * 2  # dataset init stage a b
    same = across[across["model_a"] == across["model_b"]]
    assert np.allclose(same["cka"], 1.0)  # a model's embedding against itself
    other = across[across["model_a"] != across["model_b"]]
    assert other["cka"].between(-0.1, 1 - 1e-6).all()
    # the override sets the learning rate of ResNet-toy's runs on SynSkin only, from any init
    peak = {
        (dataset, init): pd.read_csv(study / "finetune" / dataset / "ResNet-toy" / init / "seed0" / "log.csv")[
            "lr"
        ].max()
        for dataset in ("SynSkin", "SynChest")
        for init in ("random", "imagenet")
    }
    assert peak[("SynSkin", "random")] == peak[("SynSkin", "imagenet")] == pytest.approx(3e-4)
    assert peak[("SynChest", "imagenet")] == pytest.approx(config["finetune"]["lr"]["pretrained"])
    assert peak[("SynChest", "random")] == pytest.approx(config["finetune"]["lr"]["random"])
    overridden = json.loads(
        (study / "finetune" / "SynSkin" / "ResNet-toy" / "random" / "seed0" / "metrics.json").read_text()
    )
    assert overridden["lr"] == 3e-4 and overridden["weight_decay"] == 1e-5  # the schema default: not overridden
    log = pd.read_csv(next((study / "finetune" / "SynChest" / "ResNet-toy" / "random").glob("seed*/log.csv")))
    assert list(log.columns) == ["epoch", "iterations", "lr", "train_loss", "val_macro_roc_auc", "seconds"]
    metrics = json.loads(
        (study / "finetune" / "SynChest" / "ResNet-toy" / "random" / "seed0" / "metrics.json").read_text()
    )
    assert metrics["metric"] == "macro_roc_auc" and 0 <= metrics["value"] <= 1
    assert not list(study.rglob("checkpoint.pt")), "completed jobs leave no resume checkpoint"

    # same config + same seed -> same numbers: rerunning one job reproduces its metric
    rerun = run_snakemake(tmp_path, config, "--cores", "1", "--forcerun", "finetune", "--until", "finetune",
                          "--allowed-rules", "finetune",
                          str(study / "finetune" / "SynChest" / "ResNet-toy" / "random" / "seed0" / "metrics.json"))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    again = json.loads(
        (study / "finetune" / "SynChest" / "ResNet-toy" / "random" / "seed0" / "metrics.json").read_text()
    )
    assert again["value"] == metrics["value"]

    # the self-contained report holds every table and figure, grouped by paper artefact
    report = run_snakemake(tmp_path, config, "--report", str(tmp_path / "report.zip"))
    assert report.returncode == 0, report.stderr[-3000:]
    import zipfile
    names = zipfile.ZipFile(tmp_path / "report.zip").namelist()
    for artefact in (
        "table1.md",
        "table2.md",
        "figure2.png",
        "claims.md",
        "table3.md",
        "ood.md",
        "table4.md",
        "table5.md",
        "figure3.png",
        "welch.md",
        "figure1.png",
        "figure4.png",
        "figure5.png",
        "cka.png",
        "cka_models.png",
    ):
        assert any(name.endswith(artefact) for name in names), artefact


@pytest.mark.slow
def test_synthetic_self_attention_study_repeats_over_data_splits_after_its_search(tmp_path):
    """Piater et al.'s study in miniature (presets/synthetic_self_attention.yaml): each repetition
    on its own split of one store, the lr x weight-decay search on two more splits, the choice used."""
    config = load_preset("synthetic_self_attention")
    result = run_snakemake(tmp_path, config, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    study = tmp_path / "results" / "synthetic_self_attention"
    data = study / "data" / "SynPatch"
    metas = {seed: json.loads((data / f"split{seed}" / "meta.json").read_text()) for seed in (0, 1, 10, 11)}
    assert len({meta["split_hash"] for meta in metas.values()}) == 4  # evaluation and search splits all differ
    assert all(meta["repetition"] == "split" and meta["split_seed"] == seed for seed, meta in metas.items())
    assert sorted(p.name for p in data.rglob("images.npy")) == ["images.npy"]  # the pixels once
    runs = pd.read_parquet(study / "runs.parquet")
    assert len(runs[runs["protocol"] == "finetune"]) == 2 * 5 * 2 and len(runs[runs["protocol"] == "ood"]) == 5 * 2

    search = pd.read_csv(study / "tables" / "search.csv")
    assert len(search) == 2 * 2 * 4 and (search["n_seeds"] == 2).all()
    assert search.groupby(["dataset", "model"])["chosen"].sum().eq(1).all()
    for model in ("ResNet-toy", "ResNet-toy-GA"):
        rows = search[(search["model"] == model) & (search["dataset"] == "SynPatch")]
        chosen = rows[rows["chosen"]].iloc[0]
        assert chosen["val_mean"] == rows["val_mean"].max()
        for seed in (0, 1):  # the study's runs of a searched model use its choice
            metrics = json.loads((study / "finetune" / "SynPatch" / model / "random" / f"seed{seed}" /
                                  "metrics.json").read_text())
            assert (metrics["lr"], metrics["weight_decay"]) == (chosen["lr"], chosen["weight_decay"])
    unsearched = json.loads((study / "finetune" / "SynPatch" / "ResNet-toy-LA" / "random" / "seed0" /
                             "metrics.json").read_text())
    assert (unsearched["lr"], unsearched["weight_decay"]) == (config["finetune"]["lr"]["random"], 1e-5)
    assert "best mean validation metric over data splits" in (study / "tables" / "search.md").read_text()
    assert "mean ± std over data splits" in (study / "tables" / "self_attention.md").read_text()
    assert "Table 1: fine-tuning, median ± std over data splits" in (study / "tables" / "table1.md").read_text()
    # Piater et al.'s Table 4: every model's maps on one test image per class and the mean
    maps = np.load(study / "analysis" / "attention_maps" / "SynPatch.npz")
    assert list(maps["map_names"]) == ["ResNet-toy: Grad-CAM", "ResNet-toy-GA: Grad-CAM",
                                       "ResNet-toy-GA: GA after layer1", "ResNet-toy-GA: GA after layer2",
                                       "ResNet-toy-LA: Grad-CAM", "ResNet-toy-ELA: Grad-CAM", "ViT-toy: CLS attention"]
    assert maps["maps"].shape == (7, 3, 32, 32) and sorted(maps["labels"]) == [0, 1]
    assert (study / "figures" / "attention_maps_SynPatch.png").stat().st_size > 10_000

    # Piater et al.'s Table 3 on SynLesion-3: a feature row per image, the generator's metadata in it
    features = pd.read_parquet(study / "analysis" / "lesion_features" / "SynLesion-3.parquet")
    assert len(features) == 500 and features["dermoscopic_structures"].isna().all()
    assert features["asymmetry"].notna().mean() > 0.9  # the toy DeepLabV3 finds (almost) every lesion
    assert set(features["sex"].dropna()) == {0.0, 1.0} and features["age"].between(5, 85).all()
    usage = pd.read_csv(study / "tables" / "feature_usage.csv")
    assert sorted(usage["model"].unique()) == sorted(["ResNet-toy", "ResNet-toy-GA", "ResNet-toy-LA",
                                                      "ResNet-toy-ELA", "ViT-toy"])
    used = usage.set_index(["model", "feature"])["used"]
    assert used.xs("dermoscopic_structures", level="feature").isna().all()  # no Task 2 masks: untested
    assert not used.xs("sex", level="feature").astype(bool).any()  # random: used by no model
    assert used.xs("colorful_patches", level="feature").astype(bool).any()  # the planted shortcut is found
    markdown = (study / "tables" / "feature_usage.md").read_text()
    assert markdown.count("|") > 5 * 10 and "Not tested (–): D" in markdown
    claims = pd.read_csv(study / "tables" / "claims.csv").set_index("id")  # their Table 3's findings, evaluated
    assert claims.loc["sa-9", "verdict"] in ("holds", "does not hold")
    assert claims.loc["sa-9", "datasets"] == "SynLesion-3"
    assert claims.loc["sa-10", "verdict"] == "not run in this study"  # D untested
    assert claims.loc["sa-10", "as_published"] == "does not hold"  # their Table 3 marks D for ResNet18-LA

"""python -m vitmed.plan: jobs per stage from Snakemake's dry run, GPU-hours from throughput."""
import copy

import pandas as pd
import pytest
import yaml
from helpers import ROOT, SYNTHETIC, load_preset, run_snakemake
from snakemake.utils import validate

from vitmed.plan import estimate as plan


def small_config() -> dict:
    config = {
        "study": "p",
        "seeds": [0, 1],
        "inits": ["random", "imagenet"],
        "input_size": 32,
        "datasets": {"D": {"source": "synthetic", "generator": "mammo_mass", "metric": "roc_auc", "n_images": 1000}},
        "models": {"M": {"timm_name": "test_vit", "family": "vit"}},
        "finetune": {"max_epochs": 10},
    }
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    return config


def test_gpu_hours_are_images_over_throughput():
    config = small_config()
    speed = pd.DataFrame([{"model": "M", "train_images_per_s": 100.0, "infer_images_per_s": 1000.0}])
    hours = plan.gpu_hours(config, speed).set_index("stage")["gpu_hours"]
    # 2 inits x 2 seeds, 10 epochs of 800 training images at 100/s plus 100 validation images at 1000/s
    assert hours["finetune"] == pytest.approx(4 * 10 * (800 / 100 + 100 / 1000) / 3600)
    # k-NN: 2 random seeds + 1 pretrained encoder, each embedding all 1000 images at 1000/s
    assert hours["knn"] == pytest.approx(3 * 1000 / 1000 / 3600)
    assert hours["linear_probe"] == pytest.approx(hours["knn"])  # the same feature extraction
    assert "pretrain_dino" not in hours.index and "search_run" not in hours.index
    # a search: 3 learning rates x 2 seeds for each init, each run costing a fine-tuning run
    searched = dict(copy.deepcopy(config), search={"grid": {"lr": [1e-4, 1e-3, 1e-2]}, "seeds": [0, 1]})
    validate(searched, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    search = plan.gpu_hours(searched, speed).set_index("stage")["gpu_hours"]["search_run"]
    assert search == pytest.approx(2 * 3 * 2 / 4 * hours["finetune"])
    config["linear_probe"] = {"enabled": False}
    assert "linear_probe" not in plan.gpu_hours(config, speed)["stage"].values
    config["linear_probe"] = {"enabled": True}  # the plan reads validated configs (vitmed.study)

    config["inits"].append("dino")
    dino = plan.gpu_hours(config, speed).set_index("stage")["gpu_hours"]["pretrain_dino"]
    crops = (2 * 224 ** 2 + 8 * 96 ** 2) / 32 ** 2  # the schema's default crops, in units of one input image
    assert dino == pytest.approx(300 * 800 * crops / 100 / 3600)


def test_ablation_runs_are_counted_once_and_only_on_their_datasets():
    config = small_config()
    config["datasets"]["E"] = dict(config["datasets"]["D"], n_images=2000)
    config["ablations"] = {"datasets": ["E"], "models": {"L": {"timm_name": "test_vit", "family": "vit"}},
                           "capacity": {"vit": ["M", "L"]}}
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    speed = pd.DataFrame([{"model": m, "train_images_per_s": 100.0, "infer_images_per_s": 1000.0} for m in "ML"])
    hours = plan.gpu_hours(config, speed).set_index(["stage", "dataset", "model"])["gpu_hours"]
    one_run_e = 10 * (1600 / 100 + 200 / 1000) / 3600  # 10 epochs on E's 1,600 training images
    assert hours["finetune", "E", "L"] == pytest.approx(2 * one_run_e)  # imagenet init x 2 seeds
    assert hours["finetune", "E", "M"] == pytest.approx(4 * one_run_e)  # M's imagenet runs serve Table 1 and 4
    assert ("finetune", "D", "L") not in hours.index and ("knn", "E", "L") not in hours.index


def test_synthetic_source_pretraining_is_counted_per_pretrained_model():
    config = small_config()
    config["imagenet"] = {"source": "synthetic", "synthetic_source": {"n_images": 500, "epochs": 4}}
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    speed = pd.DataFrame([{"model": "M", "train_images_per_s": 100.0, "infer_images_per_s": 1000.0}])
    hours = plan.gpu_hours(config, speed).set_index(["stage", "dataset", "model"])["gpu_hours"]
    # 4 epochs over the source set's 400 training images, plus 50 validation images each epoch
    assert hours["pretrain_source", "source-imagenet", "M"] == pytest.approx(4 * (400 / 100 + 50 / 1000) / 3600)
    config["inits"] = ["random"]  # nothing starts from the stand-in weights: no source training
    assert "pretrain_source" not in set(plan.gpu_hours(config, speed)["stage"])


def test_segmentation_hours_use_deeplabv3s_throughput():
    config = small_config()
    config["segmentation"] = {"datasets": {"S": {"source": "synthetic", "generator": "lesion_masks", "n_images": 500,
                                                 "split": {"train": 0.8, "val": 0.1, "test": 0.1}}},
                              "models": ["M"], "image_size": 32, "input_size": 32, "finetune": {"max_epochs": 6}}
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    speed = pd.DataFrame([{"model": "M", "task": "classification", "train_images_per_s": 100.0,
                           "infer_images_per_s": 1000.0}])
    with pytest.raises(ValueError, match=r"no segmentation throughput for model\(s\) \['M'\]"):
        plan.gpu_hours(config, speed)
    speed = pd.concat([speed, pd.DataFrame([{"model": "M", "task": "segmentation", "train_images_per_s": 10.0,
                                             "infer_images_per_s": 50.0}])])
    hours = plan.gpu_hours(config, speed).set_index(["stage", "dataset", "model"])["gpu_hours"]
    # 2 seeds x 6 epochs of 400 training images at 10/s plus 50 validation images at 50/s
    assert hours["segment", "S", "M"] == pytest.approx(2 * 6 * (400 / 10 + 50 / 50) / 3600)


def test_missing_throughput_or_size_is_a_clear_error():
    config = small_config()
    with pytest.raises(ValueError, match=r"no throughput for model\(s\) \['M'\]"):
        plan.gpu_hours(config, pd.DataFrame(columns=["model", "train_images_per_s", "infer_images_per_s"]))
    config["datasets"]["D"].pop("n_images")
    config["datasets"]["D"].update(source="isic2019", metric="macro_recall")
    speed = pd.DataFrame([{"model": "M", "train_images_per_s": 1.0, "infer_images_per_s": 1.0}])
    config = copy.deepcopy(config)
    config["datasets"]["D"]["n_images"] = None
    with pytest.raises(ValueError, match="plan.n_images.D is not set"):
        plan.gpu_hours(config, speed)


def test_plan_command_lists_the_dry_runs_jobs_per_stage(tmp_path, capsys):
    throughput = tmp_path / "throughput.csv"
    preset = load_preset(*SYNTHETIC)
    pd.DataFrame([{"model": m, "task": "classification", "train_images_per_s": 700.0, "infer_images_per_s": 3000.0}
                  for m in [*preset["models"], *preset["ablations"]["models"]]]
                 + [{"model": m, "task": "segmentation", "train_images_per_s": 50.0, "infer_images_per_s": 200.0}
                    for m in preset["segmentation"]["models"]]).to_csv(throughput, index=False)
    plan.main(["--configfile", *(str(ROOT / "presets" / f"{name}.yaml") for name in SYNTHETIC),
               "--throughput", str(throughput)])
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    # 5 datasets x 2 models x 3 inits x 2 seeds, plus 13 ablation models x 2 seeds on SynPatch
    assert " 86 jobs" in lines["finetune"] and "GPU-h" in lines["finetune"]
    assert " 1 jobs" in lines["prepare_resized"]  # SynPatch again at 72 px for ViT-toy-64
    # 5 datasets, the source set, the OOD test set and the 2 segmentation datasets
    assert " 10 jobs" in lines["pretrain_dino"] and " 9 jobs" in lines["prepare"] and " 1 jobs" in lines["ood"]
    # 2 segmentation datasets x 2 encoders x 2 seeds
    assert " 8 jobs" in lines["segment"] and "GPU-h" in lines["segment"]
    # the study's two models; its ablation models are fine-tuned from random init (the demo's budget)
    assert " 2 jobs" in lines["pretrain_source"] and "GPU-h" in lines["pretrain_source"]
    assert out.startswith("study synthetic: ")


def test_plan_without_throughput_says_how_to_measure_it(tmp_path):
    with pytest.raises(SystemExit, match="snakemake throughput --configfile"):
        plan.main(["--configfile", str(ROOT / "config.yaml")])
    with pytest.raises(SystemExit, match="no such file"):
        plan.main(["--configfile", str(ROOT / "config.yaml"), "--throughput", str(tmp_path / "missing.csv")])


def test_throughput_rule_measures_every_model_and_the_config_overrides_it(tmp_path, monkeypatch):
    config = load_preset(*SYNTHETIC)
    config.update(study="speed", results_dir=str(tmp_path / "results"))
    config["plan"] = {"measure": {"batch": 4, "repeats": 1}}
    result = run_snakemake(tmp_path, config, "throughput", "--cores", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    measured = pd.read_csv(tmp_path / "results" / "speed" / "plan" / "throughput.csv")
    segmentation = measured[measured["task"] == "segmentation"]  # DeepLabV3 on each encoder at 48 pixels
    assert list(segmentation["model"]) == ["ResNet-toy", "ViT-toy"] and set(segmentation["input_size"]) == {48}
    measured = measured[measured["task"] == "classification"]
    assert list(measured["model"]) == [
        "ResNet-toy",
        "ViT-toy",
        "ResNet-toy-L",
        "ViT-toy-L",
        "ViT-toy-p4",
        "ResNet-toy-GA",
        "ResNet-toy-LA",
        "ResNet-toy-ELA",
        "ViT-toy-f3",
        "ViT-toy-frozen",
        "ViT-toy-app",
        "ViT-toy-frozen-app",
        "ViT-toy-app-d3",
        "ViT-toy-frozen-app-d3",
        "ViT-toy-64",
    ]
    assert (measured[["train_images_per_s", "infer_images_per_s"]] > 0).all().all()
    # each model at its input size: ViT-toy-64 at its own
    sizes = measured.set_index("model")["input_size"].to_dict()
    assert sizes == {**dict.fromkeys(measured["model"], 32), "ViT-toy-64": 64}
    assert set(measured["device"]) == {"cpu"}

    config["plan"]["throughput"] = {"ViT-toy": {"train_images_per_s": 1.0, "infer_images_per_s": 2.0}}
    configfile = tmp_path / "override.yaml"
    configfile.write_text(yaml.safe_dump(config))
    used = []
    monkeypatch.setattr(plan, "gpu_hours", lambda cfg, speed: used.append(speed) or pd.DataFrame(
        [{"stage": "finetune", "dataset": "SynPatch", "model": "ViT-toy", "gpu_hours": 1.0}]))
    plan.main(["--configfile", str(configfile)])  # reads the rule's CSV from the study's results
    assert len(used[0]) == 15 + 2 and (used[0]["task"] == "segmentation").sum() == 2  # overrides: classification only
    speed = used[0][used[0]["task"] == "classification"].set_index("model")
    assert speed.loc["ViT-toy", "train_images_per_s"] == 1.0 and len(speed) == 15
    assert speed.loc["ResNet-toy", "train_images_per_s"] == measured.iloc[0]["train_images_per_s"]

import copy

import pytest
import yaml
from helpers import ROOT, SYNTHETIC, job_counts, load_preset, run_snakemake
from snakemake.utils import validate

from vitmed.study import Study

SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")


def test_dry_run_of_paper_config_lists_the_whole_study(tmp_path):
    result = run_snakemake(tmp_path, None, "-n", "--configfile", str(ROOT / "config.yaml"))
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    n_cells = len(config["datasets"]) * len(config["models"]) * len(config["inits"])
    ablation_only = [m for m in config["ablations"]["models"] if m not in config["models"]]
    assert counts["finetune"] == (n_cells + 5 * len(ablation_only)) * len(config["seeds"]) == (5 * 4 * 3 + 5 * 16) * 5
    assert counts["self_attention"] == 1
    assert counts["capacity"] == counts["patch_size"] == counts["published_comparison"] == 1
    assert counts["knn"] == counts["linear_probe"] == counts["analyze"] == len(config["datasets"])
    assert counts["pretrain_dino"] == 5 * 4
    assert counts["prepare"] == 5 + 2 and counts["tables"] == 1 and counts["figure1"] == 1
    # Table 2: ISIC 2018 and CSAW-S x ResNet50 and DeiT-S x 5 seeds; Figure 2
    assert counts["segment"] == 2 * 2 * 5 and counts["figure2"] == 1


def test_defaults_are_filled_in():
    config = {"study": "x", "datasets": {"A": {"source": "synthetic", "generator": "mammo_mass", "metric": "roc_auc"}},
              "models": {"M": {"timm_name": "test_vit", "family": "vit"}}}
    validate(config, SCHEMA)
    assert config["finetune"]["warmup_iters"] == 1000
    assert config["finetune"]["lr"] == {"pretrained": 1e-4, "random": 1e-3}
    assert config["finetune"]["augment"]["color_jitter"]["brightness"] == 0.3
    assert config["knn"]["k"] == 200
    assert config["datasets"]["A"]["split"] == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert config["seeds"] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("edit, expected", [
    (lambda c: c["finetune"].update(learning_rate=0.1), "'learning_rate' was unexpected"),
    (lambda c: c["finetune"].update(batch_size=-4), "batch_size"),
    (lambda c: c["datasets"]["SynMammo"].update(metric="accuracy"), "'accuracy' is not one of"),
    (lambda c: c.update(inits=["random", "imagenet21k"]), "'imagenet21k' is not one of"),
    (lambda c: c["datasets"]["SynSkin"].pop("generator"), "'generator' is a required property"),
    (lambda c: c["analysis"]["saliency"].update(cnn="ResNet-50"), "analysis.saliency.cnn: 'ResNet-50' is not one of"),
    (lambda c: c["ablations"]["capacity"].update(vit=["ViT-toy", "ViT-huge"]),
     "ablations.capacity.vit: 'ViT-huge' is not one of"),
    (lambda c: c["ablations"]["capacity"].update(cnn=["ResNet-toy", "ViT-toy-L"]),
     "ablations.capacity.cnn: 'ViT-toy-L' is a vit"),
    (lambda c: c["ablations"].update(datasets=["SynEye"]), "ablations.datasets: 'SynEye' is not one of"),
    (lambda c: c["ablations"].update(patch_size={"eight": "ViT-toy"}), "'eight' does not match"),
    (lambda c: c["datasets"]["SynPatch"].update(ood_test="SynPatch-Elsewhere"),
     "datasets.SynPatch.ood_test: 'SynPatch-Elsewhere' is not one of test_datasets ['SynPatch-OtherSite']"),
    (lambda c: c["test_datasets"].update(SynSkin=c["test_datasets"]["SynPatch-OtherSite"]),
     "test_datasets: 'SynSkin' is also a dataset name"),
    (lambda c: c["finetune"].update(overrides={"SynPatch": {"ResNet-18": {"lr": 0.01}}}),
     "finetune.overrides.SynPatch: 'ResNet-18' is not one of"),
    (lambda c: c["finetune"].update(overrides={"SynPatch": {"ResNet-toy": {"momentum": 0.5}}}),
     "'momentum' was unexpected"),
    (lambda c: c["ablations"]["models"]["ViT-toy-f3"].update(timm_name="test_vit_2"),
     "ablations.freezing.ViT-toy: 'ViT-toy-f3' must be ViT-toy's timm model (test_vit) with freeze_blocks >= 1 or "
     "frozen: true"),
    (lambda c: c["ablations"]["models"]["ViT-toy-f3"].update(frozen=True),  # both: which one is meant?
     "'ViT-toy-f3' must be ViT-toy's timm model (test_vit) with freeze_blocks >= 1 or frozen: true"),
    (lambda c: c["segmentation"].update(models=["ViT-toy-frozen"]), "segmentation.models: 'ViT-toy-frozen' freezes"),
    (lambda c: c["analysis"].update(attention_models=["ResNet-toy"]),
     "analysis.attention_models: 'ResNet-toy' is not one of the study's ViTs ['ViT-toy']"),
    (lambda c: c["segmentation"].update(models=["ResNet-toy", "DeiT-S"]),
     "segmentation.models: 'DeiT-S' is not one of"),
    (lambda c: c["segmentation"].update(models=["ViT-toy-f3"]), "segmentation.models: 'ViT-toy-f3' freezes blocks"),
    (lambda c: c["segmentation"]["datasets"].update(SynSkin=c["segmentation"]["datasets"]["SynMassSeg"]),
     "segmentation.datasets: 'SynSkin' is also a classification or test dataset name"),
    (lambda c: c["segmentation"]["datasets"]["SynMassSeg"].update(split={"train": 0.7, "val": 0.2}),
     "segmentation.datasets.SynMassSeg.split: ratios sum to 0.9, not 1"),
    (lambda c: c["segmentation"]["datasets"]["SynMassSeg"].update(source="csaw_s", split={"train": 0.8, "val": 0.1,
                                                                                       "test": 0.1}),
     "segmentation.datasets.SynMassSeg.split: test is the publisher's held-out set for csaw_s"),
    (lambda c: c["segmentation"].update(input_size=64),
     "segmentation.datasets.SynLesionSeg: image_size 48 is smaller"),
    (lambda c: c["segmentation"]["finetune"].update(learning_rate=0.1),
     "segmentation.finetune.learning_rate: not a key"),
    (lambda c: c["segmentation"]["datasets"]["SynMassSeg"].update(generator="mammo_mass"),
     "'mammo_mass' is not one of"),
    (lambda c: c["segmentation"].update(init="dino"), "'dino' is not one of"),
])
def test_bad_config_is_refused_naming_the_key(edit, expected):
    """The schema, then the study model's cross-field checks: what the workflow runs first."""
    config = copy.deepcopy(load_preset(*SYNTHETIC))
    edit(config)
    with pytest.raises(Exception) as error:
        validate(config, SCHEMA)
        Study.from_config(config)
    assert expected in str(error.value)


@pytest.mark.parametrize("edit, expected", [
    (lambda c: c["finetune"].update(learning_rate=0.1), "'learning_rate' was unexpected"),
    (lambda c: c["analysis"].update(attention_models=["ResNet-toy"]),
     "analysis.attention_models: 'ResNet-toy' is not one of the study's ViTs ['ViT-toy']"),
    # timm's registry, checked where Snakemake can import timm: before any job, not in the first one
    (lambda c: c["models"]["ResNet-toy"].update(timm_name="resnet_5000"),
     "models.ResNet-toy.timm_name: 'resnet_5000' is not a timm model"),
    (lambda c: c["ablations"]["models"]["ViT-toy-L"].update(timm_name="test_vit.no_such_weights"),
     "ablations.models.ViT-toy-L.timm_name: 'test_vit.no_such_weights' names no pretrained weights of test_vit"),
])
def test_bad_config_fails_in_snakemake_before_any_job(tmp_path, edit, expected):
    config = copy.deepcopy(load_preset(*SYNTHETIC))
    edit(config)
    result = run_snakemake(tmp_path, config, "-n")
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_workflow_passes_snakemake_lint(tmp_path):
    result = run_snakemake(tmp_path, load_preset(*SYNTHETIC), "--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_conda_env_of_the_rules_has_the_same_pins_as_pyproject():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "envs" / "vitmed.yaml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert set(project["dependencies"]) <= set(pip)
    assert all("==" in pin for pin in project["dependencies"])


def test_medmnist_preset_plans_its_study_with_official_splits(tmp_path):
    config = load_preset("medmnist")
    result = run_snakemake(tmp_path, config, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["fetch_raw"] == counts["prepare"] == len(config["datasets"]) == 5
    assert counts["finetune"] == 5 * 2 * 3 * 5


def test_self_attention_preset_plans_piater_et_als_study(tmp_path):
    config = load_preset("self_attention")
    result = run_snakemake(tmp_path, config, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    # ISIC, Camelyon17, their OOD test sets and ISIC 2018 (the lesion masks of the feature usage)
    assert counts["fetch_raw"] == counts["prepare"] == 5
    # 2 datasets x (4 baselines + 10 variants) x 10 seeds; every model also on the OOD test set
    assert counts["finetune"] == 2 * (4 + 10) * 10 and counts["ood"] == 2 and counts["self_attention"] == 1
    # ten data splits per dataset for the repetitions, two more for the search
    assert counts["resplit"] == 2 * (10 + 2)
    # their search: 3 learning rates x 4 weight decays on 2 splits for every model, set beside Table 5,
    # which the runs keep (no fine-tuning waits for a choice)
    assert counts["search_run"] == 2 * 14 * 12 * 2 and counts["search_choice"] == 2 * 14 and counts["search"] == 1
    assert counts["attention_maps"] == 2 and counts["figure_attention_maps"] == 1  # their Table 4
    # their Table 3: the features of every ISIC image once, each of the 14 models' best run tested
    assert counts["lesion_features"] == 1 and counts["feature_usage"] == 14 and counts["feature_usage_table"] == 1
    assert counts["fetch_dermoscopic_masks"] == 1  # ISIC 2018 Task 2's attribute masks: the D feature
    assert counts["segment"] == 10  # DeepLabV3 for the lesion masks (the first seed's), its IoU in Table 2
    # their Table 5: a learning rate for every model on both datasets
    overrides = config["finetune"]["overrides"]
    assert {dataset: len(models) for dataset, models in overrides.items()} == {"ISIC-3": 14, "Camelyon17": 14}
    assert all("lr" in settings for models in overrides.values() for settings in models.values())


@pytest.mark.parametrize("profile", ["slurm", "local-gpu"])
def test_profiles_name_only_rules_of_the_workflow(tmp_path, profile):
    # Snakemake ignores threads and resources set for a rule that does not exist, so a renamed
    # rule would silently fall back to the defaults (no GPU, 30 minutes) on a cluster.
    result = run_snakemake(tmp_path, load_preset(*SYNTHETIC), "--list-rules")
    assert result.returncode == 0, result.stderr[-3000:]
    rules = set(result.stdout.split())
    settings = yaml.safe_load((ROOT / "profiles" / profile / "config.yaml").read_text())
    named = set(settings.get("set-threads", {})) | set(settings.get("set-resources", {}))
    assert named and named <= rules, sorted(named - rules)
    gpu_rules = {"pretrain_source", "pretrain_dino", "finetune", "search_run", "segment", "knn", "linear_probe", "ood",
                 "analyze", "attention_maps", "lesion_features"}
    assert all(settings["set-resources"][rule]["gpu"] == 1 for rule in gpu_rules)

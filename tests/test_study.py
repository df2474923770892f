"""The study model: what a config runs and reports, derived without Snakemake."""
import copy
import re
import subprocess
import sys

import pytest
import yaml
from helpers import ROOT, SYNTHETIC, job_counts, load_preset, run_snakemake
from snakemake.utils import validate

from vitmed.study import HUB, SOURCE, Study

SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")


def study_of(config: dict) -> Study:
    config = copy.deepcopy(config)
    validate(config, SCHEMA)
    return Study.from_config(config)


def test_importing_the_study_model_loads_no_scientific_library():
    """Snakemake imports it where the jobs' environment may be missing (--use-conda)."""
    code = ("import sys, vitmed.study; heavy = [m for m in ('torch', 'numpy', 'pandas', 'timm', 'yaml') "
            "if m in sys.modules]; print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_paper_study_runs_and_sets():
    study = study_of(yaml.safe_load((ROOT / "config.yaml").read_text()))
    runs = study.finetune_runs()
    assert len(runs) == len(set(runs)) == (5 * 4 * 3 + 5 * 16) * 5  # Table 1 cells + ablation-only models
    assert study.capacity == {"cnn": ["ResNet18", "ResNet50", "ResNet152"], "vit": ["DeiT-T", "DeiT-S", "DeiT-B"]}
    assert study.patch_sizes == {16: "DeiT-S", 8: "DeiT-S-p8"}
    # variants start from their base CNN's weights, whatever the source
    assert study.base_model["ResNet18-GA"] == "ResNet18"
    assert study.weights_source("APTOS2019", "ResNet18-GA", "imagenet") == HUB
    assert study.weights_source("APTOS2019", "DeiT-S", "dino") == "results/paper/dino/APTOS2019/DeiT-S/teacher.pt"
    assert study.weights_source("APTOS2019", "DeiT-S", "random") is None
    assert study.init_weights("APTOS2019", "DeiT-S", "imagenet") == []
    assert study.source_pretrained_models() == []  # hub weights: nothing to pretrain


def test_synthetic_study_weights_come_from_source_pretraining_of_base_models():
    config = load_preset(*SYNTHETIC)
    config["ablations"]["init"] = "imagenet"  # the paper's ablation init (the demo's is random)
    study = study_of(config)
    assert (
        study.weights_source("SynPatch", "ResNet-toy-GA", "imagenet")
        == "results/synthetic/weights/ResNet-toy/imagenet.pt"
    )
    # the study's models (imagenet and dino inits) and the capacity / patch-size ablation models; no variants
    assert study.source_pretrained_models() == ["ResNet-toy", "ViT-toy", "ResNet-toy-L", "ViT-toy-L", "ViT-toy-p4"]
    assert study.dataset_config(SOURCE)["split"] == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert study.dataset_config("SynPatch-OtherSite")["all_test"] is True
    pairs = study.finetuned_pairs("SynPatch")  # the ablation dataset: the study's pairs, then the ablations'
    assert pairs[:6] == [(m, i) for m in ("ResNet-toy", "ViT-toy") for i in ("random", "imagenet", "dino")]
    assert ("ResNet-toy-LA", "imagenet") in pairs and len(pairs) == len(set(pairs))
    assert ("ResNet-toy-LA", "imagenet") not in study.finetuned_pairs("SynSkin")


def test_final_outputs_follow_the_config_and_match_the_dry_run(tmp_path):
    config = load_preset(*SYNTHETIC)
    outputs = study_of(config).final_outputs()
    for file in ("tables/table1.tex", "tables/table2.md", "figures/figure2.png", "tables/table4.md",
                 "figures/figure3.png", "tables/freezing.csv",
                 "figures/freezing.pdf", "tables/ood.md", "figures/figure4.png", "figures/figure5.pdf",
                 "tables/welch.csv", "tables/self_attention.tex", "tables/scenarios.md"):
        assert f"results/synthetic/{file}" in outputs, file
    assert not any("published_comparison" in path for path in outputs)  # off in the synthetic study
    lean = copy.deepcopy(config)
    lean["ablations"] = {"models": {}}
    lean["analysis"] = {"attention_models": []}
    lean["linear_probe"] = {"enabled": False}
    lean["segmentation"] = {}
    fewer = study_of(lean).final_outputs()
    absent = ("table4", "figure3", "table5", "freezing", "scenarios", "figure4", "figure5", "self_attention",
              "linear_probe", "table2", "figure2")
    assert not {p for p in fewer if any(n in p for n in absent)}
    assert {"results/synthetic/tables/table1.md", "results/synthetic/figures/cka.png"} <= set(fewer)
    # Snakemake plans exactly the rules that write those files
    result = run_snakemake(tmp_path, lean, "-n")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    assert not {"capacity", "patch_size", "freezing", "scenarios", "self_attention", "figure4", "figure5",
                "linear_probe", "segment", "figure2"} & set(counts)
    assert counts["tables"] == counts["figure_cka"] == 1


def test_every_artefact_has_a_caption_and_a_rule_of_the_workflow():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["linear_probe"]["enabled"] = True
    studies = [study_of(config), *(study_of(load_preset(*names)) for names in (
        ("foundation",), ("self_attention",), ("synthetic_self_attention",), SYNTHETIC))]
    rules = "".join(path.read_text() for path in (ROOT / "workflow" / "rules").glob("*.smk"))
    names = set()
    for study in studies:
        for artefact in study.artefacts:
            names.add(artefact.name)
            assert (ROOT / "workflow" / "report" / f"{artefact.caption}.rst").exists(), artefact.name
            assert f"rule {artefact.rule}:" in rules and f'artefact_outputs("{artefact.rule}")' in rules
    assert {"search", "scenarios", "decapitation", "times", "resolution", "attention_maps_SynPatch",
            "feature_usage"} <= names


@pytest.mark.parametrize("edit, expected", [
    (lambda u: u.update(dataset="SynPatch-OtherSite"),
     "analysis.feature_usage.dataset: 'SynPatch-OtherSite' is not one of ablations.datasets"),
    (lambda u: u["lesion_masks"].update(dataset="SynLesion-3"),
     "analysis.feature_usage.lesion_masks.dataset: 'SynLesion-3' is not one of segmentation.datasets ['SynLesionSeg']"),
    (lambda u: u["lesion_masks"].update(model="ViT-toy"),
     "analysis.feature_usage.lesion_masks.model: 'ViT-toy' is not one of segmentation.models ['ResNet-toy']"),
])
def test_feature_usage_names_a_wrong_dataset_or_segmentation_run(edit, expected):
    config = load_preset("synthetic_self_attention")
    study = study_of(config)
    assert study.feature_usage_models == ["ResNet-toy", "ResNet-toy-GA", "ResNet-toy-LA", "ResNet-toy-ELA", "ViT-toy"]
    assert study.lesion_segmenter() == "results/synthetic_self_attention/segment/SynLesionSeg/ResNet-toy/seed0/best.pt"
    edit(config["analysis"]["feature_usage"])
    with pytest.raises(ValueError, match=re.escape(expected)):
        study_of(config)


def test_table_titles_name_the_study_and_the_ood_pairs():
    study = study_of(load_preset(*SYNTHETIC))
    assert study.table_title("table1") == "Table 1: fine-tuning, median ± std over seeds (synthetic)"
    assert "(SynPatch → SynPatch-OtherSite)" in study.table_title("ood")


@pytest.mark.parametrize("source, expected", [("file", "imagenet.source is 'file' but the imagenet_file of model "
                                                       "ResNet-toy is not set")])
def test_missing_weights_file_is_named(source, expected):
    config = load_preset(*SYNTHETIC)
    config["imagenet"] = {"source": source}
    with pytest.raises(ValueError, match=expected):
        study_of(config).weights_source("SynPatch", "ResNet-toy-GA", "imagenet")


def test_a_study_without_imagenet_init_runs_without_saliency_unless_figure4_names_its_models():
    config = load_preset(*SYNTHETIC)
    config["inits"] = ["random"]
    del config["analysis"]["saliency"]  # the schema's defaults: init imagenet, no models
    study = study_of(config)
    assert not study.saliency_on and not any("figure4" in path for path in study.final_outputs())
    config["analysis"]["saliency"] = {"cnn": "ResNet-toy", "vit": "ViT-toy"}
    with pytest.raises(ValueError, match=r"analysis.saliency.init: 'imagenet' is not one of the study's \['random'\]"):
        study_of(config)


@pytest.mark.parametrize("edit, expected", [
    (lambda c: c["datasets"]["SynFundus"].update(metric="roc_auc"),
     "datasets.SynFundus.metric: 'roc_auc' scores binary tasks, but SynFundus (synthetic) is multiclass"),
    (lambda c: c["datasets"]["SynChest"].update(metric="macro_recall"),
     "datasets.SynChest.metric: 'macro_recall' scores binary or multiclass tasks, but SynChest (synthetic) is "
     "multilabel"),
    (lambda c: c["test_datasets"]["SynPatch-OtherSite"].update(metric="macro_roc_auc"),
     "test_datasets.SynPatch-OtherSite.metric: 'macro_roc_auc' scores multilabel tasks"),
    (lambda c: c.update(image_size=24), "image_size: 24 is smaller than input_size 32"),
])
def test_a_metric_that_cannot_score_the_task_and_upscaling_are_refused_before_any_job(edit, expected):
    config = load_preset(*SYNTHETIC)
    edit(config)
    with pytest.raises(ValueError, match=re.escape(expected)):
        study_of(config)


def test_every_preset_passes_the_checks_and_generator_tasks_are_the_generators():
    from vitmed.data.synthetic import generate
    from vitmed.study import GENERATOR_TASKS

    for name in ("synthetic", "medmnist", "foundation", "self_attention"):
        study_of(load_preset(name))
    study_of(yaml.safe_load((ROOT / "config.yaml").read_text()))
    for generator, task in GENERATOR_TASKS.items():
        assert generate(generator, 40, 16, seed=0).task == task, generator


def test_segmentation_runs_weights_and_settings():
    study = study_of(yaml.safe_load((ROOT / "config.yaml").read_text()))
    runs = study.segment_runs()
    assert len(runs) == len(set(runs)) == 2 * 2 * 5 and ("CSAW-S", "DeiT-S", 4) in runs
    assert study.figure2_models == {"cnn": "ResNet50", "vit": "DeiT-S"}
    assert study.weights_source("ISIC2018", "DeiT-S", study.segmentation_init) == HUB
    assert study.image_size_of("CSAW-S") == 512 and study.image_size_of("APTOS2019") == 256
    cfg = study.dataset_config("CSAW-S")  # what prepare reads
    assert cfg["metric"] == "iou" and cfg["split"] == {"train": 0.9, "val": 0.1, "test": 0.0}
    assert cfg["elastic"]["p"] == 0.5 and study.dataset_config("ISIC2018")["elastic"]["p"] == 0
    hp = study.segmentation_settings  # the paper's procedure, with segmentation's batch size
    assert hp["batch_size"] == 16 and hp["lr"]["pretrained"] == 1e-4 and hp["warmup_iters"] == 1000
    synthetic = study_of(load_preset(*SYNTHETIC))
    # the segmentation encoders start from the synthetic ImageNet stand-in
    weights = synthetic.weights_source("SynMassSeg", "ViT-toy", "imagenet")
    assert weights == "results/synthetic/weights/ViT-toy/imagenet.pt"
    assert {"ResNet-toy", "ViT-toy"} <= set(synthetic.source_pretrained_models())


def test_make_demo_runs_the_main_paper_and_the_overlay_adds_the_companion_studies(tmp_path):
    """`make demo` (presets/synthetic.yaml alone) holds every artefact of the ViT paper; the
    companion-study overlay adds the linear probe, freezing, self-attention and OOD tables."""
    demo = study_of(load_preset("synthetic"))
    names = {artefact.name for artefact in demo.artefacts}
    assert {"table1", "table2", "table3", "table4", "table5", "figure1", "figure2", "figure3", "figure4",
            "figure5", "cka", "welch", "claims"} <= names
    companions = {"linear_probe", "ood", "freezing", "self_attention", "scenarios", "decapitation", "times",
                  "resolution"}
    assert not names & companions
    both = {artefact.name for artefact in study_of(load_preset(*SYNTHETIC)).artefacts}
    assert both - names == companions
    result = run_snakemake(tmp_path, load_preset("synthetic"), "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    # 5 datasets x 2 models x 3 inits x 2 seeds, and the capacity / patch-size models on SynPatch x 2 seeds
    assert counts["finetune"] == 60 + 3 * 2 and counts["segment"] == 2 * 2 * 2 and "linear_probe" not in counts


def test_a_base_has_one_variant_per_protocol_it_is_counted_as():
    """The scenarios table, the claims and the published comparison read a frozen-encoder (or
    appended, or high-resolution) variant as its base's cell of that protocol: two would be one cell."""
    config = load_preset(*SYNTHETIC)
    assert study_of(config).protocol_variants()["ViT-toy-frozen"] == ("ViT-toy", "frozen_linear")
    config["ablations"]["models"]["ViT-toy-frozen2"] = dict(config["ablations"]["models"]["ViT-toy-frozen"])
    config["ablations"]["freezing"]["ViT-toy"].append("ViT-toy-frozen2")
    with pytest.raises(ValueError, match="'ViT-toy-frozen' and 'ViT-toy-frozen2' are both ViT-toy's frozen_linear"):
        study_of(config)

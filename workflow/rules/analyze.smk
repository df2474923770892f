# Representation analyses of the initialized and fine-tuned models (first seed), one job per
# dataset: CKA across layers and models, attention distance of the ViTs named in
# analysis.attention_models (Figure 5), saliency (Figure 4) when analysis.saliency names models.


rule analyze:
    input:
        unpack(analysis_inputs),
    output:
        **(
            {"attention": f"{RESULTS}/analysis/attention_distance/{{dataset}}.parquet"}
            if STUDY.attention_models
            else {}
        ),
        **({"saliency": f"{RESULTS}/analysis/saliency/{{dataset}}.npz"} if STUDY.saliency_on else {}),
        cka_layers=f"{RESULTS}/analysis/cka/{{dataset}}/layers.parquet",
        cka_models=f"{RESULTS}/analysis/cka/{{dataset}}/models.parquet",
    log:
        f"{LOGS}/analyze/{{dataset}}.log",
    benchmark:
        f"{BENCH}/analyze/{{dataset}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    threads: 1
    params:
        runs=analysis_runs,
        models=config["models"],
        analysis=config["analysis"],
        saliency=STUDY.saliency,
        input_size=config["input_size"],
        eval_crop=config["eval_crop"],
    script:
        "../../scripts/analyze.py"


rule attention_maps:
    """Piater et al.'s Table 4 on one ablation dataset: Grad-CAM, GA attention and the ViTs' CLS
    attention of the first seed's fine-tuned models (analysis.attention_maps)."""
    input:
        meta=lambda wc: f"{STUDY.data_dir(wc.dataset, STUDY.seeds[0])}/meta.json",
        tuned=lambda wc: [
            finetuned_checkpoint(wc.dataset, model, STUDY.ablation_init) for model in STUDY.attention_map_models
        ],
    output:
        f"{RESULTS}/analysis/attention_maps/{{dataset}}.npz",
    log:
        f"{LOGS}/attention_maps/{{dataset}}.log",
    benchmark:
        f"{BENCH}/attention_maps/{{dataset}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    threads: 1
    params:
        models={model: STUDY.model_configs[model] for model in STUDY.attention_map_models},
        settings=config["analysis"]["attention_maps"],
        input_size=config["input_size"],
        eval_crop=config["eval_crop"],
    script:
        "../../scripts/attention_maps.py"


rule figure_attention_maps:
    """A figure per dataset of Piater et al.'s Table 4."""
    input:
        expand(f"{RESULTS}/analysis/attention_maps/{{dataset}}.npz", dataset=STUDY.ablation_datasets),
    output:
        **artefact_outputs("figure_attention_maps"),
    log:
        f"{LOGS}/figure_attention_maps.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        datasets=STUDY.ablation_datasets,
    script:
        "../../scripts/figure_attention_maps.py"


rule lesion_features:
    """Piater et al.'s Table 3, its features: asymmetry, border, colour, dermoscopic structures, age, sex,
    skin colour and colourful patches of every image of the skin-lesion store, the lesion from the study's
    segmentation model (analysis.feature_usage)."""
    input:
        meta=f"{RESULTS}/data/{{dataset}}/meta.json",
        segmenter=STUDY.lesion_segmenter() if STUDY.feature_usage_on else [],
        segmenter_meta=f"{RESULTS}/data/{STUDY.feature_usage['lesion_masks']['dataset']}/meta.json",
        dermoscopic=STUDY.dermoscopic_masks_record(),
    output:
        f"{RESULTS}/analysis/lesion_features/{{dataset}}.parquet",
    log:
        f"{LOGS}/lesion_features/{{dataset}}.log",
    benchmark:
        f"{BENCH}/lesion_features/{{dataset}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    threads: 1
    params:
        segmenter=lambda wc: STUDY.model_configs[STUDY.feature_usage["lesion_masks"]["model"]],
        input_size=STUDY.segmentation.get("input_size"),
        output_stride=STUDY.segmentation.get("output_stride"),
        dermoscopic_masks_dir=STUDY.feature_usage["dermoscopic_masks_dir"],
    script:
        "../../scripts/lesion_features.py"


rule fetch_dermoscopic_masks:
    """ISIC 2018 Task 2's attribute masks (the D feature), downloaded once into downloads_dir; records where."""
    output:
        f"{RESULTS}/raw/dermoscopic_masks.json",
    log:
        f"{LOGS}/fetch_dermoscopic_masks.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        downloads=config["downloads_dir"],
    script:
        "../../scripts/fetch_dermoscopic_masks.py"


rule feature_usage:
    """One model's best run (highest test metric over the repetitions): conditional-independence tests of
    each feature and its test predictions given the label."""
    input:
        features=f"{RESULTS}/analysis/lesion_features/{STUDY.feature_usage['dataset']}.parquet",
        metrics=lambda wc: [
            finetune_file(STUDY.feature_usage["dataset"], wc.model, STUDY.ablation_init, seed, "metrics.json")
            for seed in STUDY.seeds
        ],
        weights=lambda wc: [
            finetune_file(STUDY.feature_usage["dataset"], wc.model, STUDY.ablation_init, seed, "best.pt")
            for seed in STUDY.seeds
        ],
        metas=lambda wc: [
            f"{STUDY.data_dir(STUDY.feature_usage['dataset'], seed, wc.model)}/meta.json" for seed in STUDY.seeds
        ],
    output:
        f"{RESULTS}/analysis/feature_usage/{STUDY.feature_usage['dataset']}/{{model}}.parquet",
    log:
        f"{LOGS}/feature_usage/{STUDY.feature_usage['dataset']}/{{model}}.log",
    benchmark:
        f"{BENCH}/feature_usage/{STUDY.feature_usage['dataset']}/{{model}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    threads: 1
    params:
        model=lambda wc: STUDY.model_configs[wc.model],
        settings=STUDY.feature_usage,
        input_size=lambda wc: STUDY.input_size_of(wc.model),
        eval_crop=config["eval_crop"],
    script:
        "../../scripts/feature_usage.py"


rule feature_usage_table:
    """Piater et al.'s Table 3: ✓ / ✗ per model and feature."""
    input:
        [
            f"{RESULTS}/analysis/feature_usage/{STUDY.feature_usage['dataset']}/{model}.parquet"
            for model in STUDY.feature_usage_models
        ],
    output:
        **artefact_outputs("feature_usage_table"),
    log:
        f"{LOGS}/feature_usage_table.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        models=STUDY.feature_usage_models,
        settings=STUDY.feature_usage,
        title=f"Table 3 of Piater et al.: feature usage on {STUDY.feature_usage['dataset']} ({STUDY.name})",
        over=STUDY.repetition_unit,
    script:
        "../../scripts/feature_usage_table.py"

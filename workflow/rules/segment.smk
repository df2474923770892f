# Segmentation (the ViT paper's Table 2): one job per {dataset} x {model} x {seed}.


rule segment:
    """DeepLabV3 on the model's encoder, trained with the paper's fine-tuning procedure; test IoU
    of the checkpoint with the best validation IoU."""
    input:
        meta=f"{RESULTS}/data/{{dataset}}/meta.json",
        weights=lambda wc: STUDY.init_weights(wc.dataset, wc.model, STUDY.segmentation_init),
    output:
        metrics=f"{RESULTS}/segment/{{dataset}}/{{model}}/seed{{seed}}/metrics.json",
        log_csv=f"{RESULTS}/segment/{{dataset}}/{{model}}/seed{{seed}}/log.csv",
        weights=f"{RESULTS}/segment/{{dataset}}/{{model}}/seed{{seed}}/best.pt",
    log:
        f"{LOGS}/segment/{{dataset}}/{{model}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/segment/{{dataset}}/{{model}}/seed{{seed}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    threads: 1
    params:
        model=lambda wc: STUDY.model_configs[wc.model],
        init=STUDY.segmentation_init,
        weights=lambda wc: STUDY.weights_source(wc.dataset, wc.model, STUDY.segmentation_init),
        hp=STUDY.segmentation_settings,
        input_size=STUDY.segmentation.get("input_size"),
        output_stride=STUDY.segmentation.get("output_stride"),
        elastic=lambda wc: STUDY.segmentation["datasets"][wc.dataset]["elastic"],
    script:
        "../../scripts/segment.py"


rule figure2:
    """Figure 2: test images with the ground truth (yellow) and the CNN's (blue) and ViT's (red)
    predicted contours, first seed."""
    input:
        meta=expand(f"{RESULTS}/data/{{dataset}}/meta.json", dataset=STUDY.segmentation_datasets),
        weights=[
            f"{RESULTS}/segment/{dataset}/{model}/seed{STUDY.seeds[0]}/best.pt"
            for dataset in STUDY.segmentation_datasets
            for model in STUDY.figure2_models.values()
        ],
    output:
        **artefact_outputs("figure2"),
    log:
        f"{LOGS}/figure2.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        datasets=STUDY.segmentation_datasets,
        models={
            family: {"name": name, "config": STUDY.model_configs[name]}
            for family, name in STUDY.figure2_models.items()
        },
        input_size=STUDY.segmentation.get("input_size"),
        output_stride=STUDY.segmentation.get("output_stride"),
        n_images=STUDY.segmentation.get("figure_images"),
    script:
        "../../scripts/figure2.py"

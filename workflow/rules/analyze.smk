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

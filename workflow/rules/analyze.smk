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

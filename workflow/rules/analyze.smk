# Representation analyses of the initialized and fine-tuned models (first seed):
# attention distance per ViT (Figure 5), CKA per dataset across all models, saliency (Figure 4).


rule attention_distance:
    input:
        unpack(analysis_inputs),
    output:
        f"{RESULTS}/analysis/attention_distance/{{dataset}}/{{model}}.parquet",
    params:
        runs=analysis_runs,
        models=config["models"],
        analysis=config["analysis"],
        input_size=config["input_size"],
    threads: 1
    log:
        f"{LOGS}/attention_distance/{{dataset}}/{{model}}.log",
    benchmark:
        f"{BENCH}/attention_distance/{{dataset}}/{{model}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/attention_distance.py"


rule cka:
    input:
        unpack(analysis_inputs),
    output:
        layers=f"{RESULTS}/analysis/cka/{{dataset}}/layers.parquet",
        models=f"{RESULTS}/analysis/cka/{{dataset}}/models.parquet",
    params:
        runs=analysis_runs,
        models=config["models"],
        analysis=config["analysis"],
        input_size=config["input_size"],
    threads: 1
    log:
        f"{LOGS}/cka/{{dataset}}.log",
    benchmark:
        f"{BENCH}/cka/{{dataset}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/cka.py"


rule saliency:
    input:
        meta=f"{RESULTS}/data/{{dataset}}/meta.json",
        cnn=lambda wc: finetuned_checkpoint(wc.dataset, SALIENCY["cnn"], SALIENCY["init"]),
        vit=lambda wc: finetuned_checkpoint(wc.dataset, SALIENCY["vit"], SALIENCY["init"]),
    output:
        f"{RESULTS}/analysis/saliency/{{dataset}}.npz",
    params:
        saliency=SALIENCY,
        models=config["models"],
        input_size=config["input_size"],
    threads: 1
    log:
        f"{LOGS}/saliency/{{dataset}}.log",
    benchmark:
        f"{BENCH}/saliency/{{dataset}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/saliency.py"

# Representation analyses of the initialized and fine-tuned models (first seed):
# attention distance (Figure 5) and layer x layer CKA, init vs fine-tuned.


def analysis_inputs(wildcards):
    """The data, every init's weights and the fine-tuned first-seed checkpoint of each init."""
    weights = [w for init in INITS for w in init_weights(wildcards.dataset, wildcards.model, init)]
    tuned = [f"{RESULTS}/finetune/{wildcards.dataset}/{wildcards.model}/{init}/seed{SEEDS[0]}/best.pt"
             for init in INITS]
    return {"meta": f"{RESULTS}/data/{wildcards.dataset}/meta.json", "weights": weights, "tuned": tuned}


rule attention_distance:
    input:
        unpack(analysis_inputs),
    output:
        f"{RESULTS}/analysis/attention_distance/{{dataset}}/{{model}}.parquet",
    params:
        model=lambda wc: config["models"][wc.model],
        weights=lambda wc: {init: weights_source(wc.dataset, wc.model, init) for init in INITS},
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
        f"{RESULTS}/analysis/cka/{{dataset}}/{{model}}.parquet",
    params:
        model=lambda wc: config["models"][wc.model],
        weights=lambda wc: {init: weights_source(wc.dataset, wc.model, init) for init in INITS},
        analysis=config["analysis"],
        input_size=config["input_size"],
    threads: 1
    log:
        f"{LOGS}/cka/{{dataset}}/{{model}}.log",
    benchmark:
        f"{BENCH}/cka/{{dataset}}/{{model}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/cka.py"

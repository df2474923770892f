# Representation analyses of the initialized and fine-tuned models (first seed):
# attention distance (Figure 5) and layer x layer CKA, init vs fine-tuned.


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

# k-NN evaluation of the *initialized* model (before fine-tuning), one job per
# {dataset} x {model} x {init}; it scores every seed (random init differs per seed).


rule knn:
    input:
        meta=f"{RESULTS}/data/{{dataset}}/meta.json",
        weights=init_weights,
    output:
        f"{RESULTS}/knn/{{dataset}}/{{model}}/{{init}}/metrics.json",
    params:
        model=lambda wc: config["models"][wc.model],
        weights=lambda wc: weights_source(wc.init, wc.model),
        seeds=SEEDS,
        knn=config["knn"],
        input_size=config["input_size"],
    threads: 1
    log:
        f"{LOGS}/knn/{{dataset}}/{{model}}/{{init}}.log",
    benchmark:
        f"{BENCH}/knn/{{dataset}}/{{model}}/{{init}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/knn.py"

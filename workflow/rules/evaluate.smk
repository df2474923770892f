# k-NN evaluation of the *initialized* encoders (before fine-tuning). One job per
# {dataset} x {model} scores every init and seed: these jobs are cheap next to their start-up.


rule knn:
    input:
        meta=f"{RESULTS}/data/{{dataset}}/meta.json",
        weights=lambda wc: [w for init in INITS for w in init_weights(wc.dataset, wc.model, init)],
    output:
        f"{RESULTS}/knn/{{dataset}}/{{model}}/metrics.json",
    params:
        model=lambda wc: config["models"][wc.model],
        weights=lambda wc: {init: weights_source(wc.dataset, wc.model, init) for init in INITS},
        seeds=SEEDS,
        knn=config["knn"],
        input_size=config["input_size"],
    threads: 1
    log:
        f"{LOGS}/knn/{{dataset}}/{{model}}.log",
    benchmark:
        f"{BENCH}/knn/{{dataset}}/{{model}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/knn.py"

# k-NN evaluation of the *initialized* encoders (before fine-tuning). One job per dataset
# scores every model, init and seed: these evaluations are cheap next to a job's start-up.


rule knn:
    input:
        meta=f"{RESULTS}/data/{{dataset}}/meta.json",
        weights=lambda wc: [w for model in MODELS for init in INITS for w in init_weights(wc.dataset, model, init)],
    output:
        f"{RESULTS}/knn/{{dataset}}/metrics.json",
    params:
        models=config["models"],
        weights=lambda wc: {model: {init: weights_source(wc.dataset, model, init) for init in INITS}
                            for model in MODELS},
        seeds=SEEDS,
        knn=config["knn"],
        input_size=config["input_size"],
    threads: 1
    log:
        f"{LOGS}/knn/{{dataset}}.log",
    benchmark:
        f"{BENCH}/knn/{{dataset}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/knn.py"

# k-NN and linear-probe evaluations of the *initialized* encoders (before fine-tuning). One job
# per dataset scores every model, init and seed: these evaluations are cheap next to a job's
# start-up.

FROZEN_INPUT = {
    "meta": lambda wc: sorted({f"{STUDY.data_dir(wc.dataset, seed)}/meta.json" for seed in STUDY.seeds}),
    "weights": lambda wc: [
        w for model in STUDY.models for init in STUDY.inits for w in STUDY.init_weights(wc.dataset, model, init)
    ],
}
FROZEN_PARAMS = {
    "models": config["models"],
    "weights": lambda wc: {
        model: {init: STUDY.weights_source(wc.dataset, model, init) for init in STUDY.inits} for model in STUDY.models
    },
    "data_dirs": lambda wc: {seed: STUDY.data_dir(wc.dataset, seed) for seed in STUDY.seeds},
    "input_size": config["input_size"],
    "eval_crop": config["eval_crop"],
}


rule knn:
    input:
        **FROZEN_INPUT,
    output:
        f"{RESULTS}/knn/{{dataset}}/metrics.json",
    log:
        f"{LOGS}/knn/{{dataset}}.log",
    benchmark:
        f"{BENCH}/knn/{{dataset}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    threads: 1
    params:
        **FROZEN_PARAMS,
        protocol="knn",
        settings=config["knn"],
    script:
        "../../scripts/evaluate_initialized.py"


rule linear_probe:
    """A logistic-regression head on the frozen features (the foundation-model study's linear heads)."""
    input:
        **FROZEN_INPUT,
    output:
        f"{RESULTS}/linear/{{dataset}}/metrics.json",
    log:
        f"{LOGS}/linear/{{dataset}}.log",
    benchmark:
        f"{BENCH}/linear/{{dataset}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    threads: 1
    params:
        **FROZEN_PARAMS,
        protocol="linear",
        settings=config["linear_probe"],
    script:
        "../../scripts/evaluate_initialized.py"


rule ood:
    """Every model fine-tuned on a dataset, scored unchanged on its out-of-distribution test set."""
    input:
        trained=f"{RESULTS}/data/{{dataset}}/meta.json",
        test=lambda wc: f"{RESULTS}/data/{STUDY.ood_tests[wc.dataset]}/meta.json",
        runs=lambda wc: [path for run in ood_runs(wc) for path in (run["checkpoint"], run["metrics"])],
    output:
        f"{RESULTS}/ood/{{dataset}}/metrics.json",
    log:
        f"{LOGS}/ood/{{dataset}}.log",
    benchmark:
        f"{BENCH}/ood/{{dataset}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    threads: 1
    params:
        runs=ood_runs,
        input_size=config["input_size"],
        eval_crop=config["eval_crop"],
        batch_size=config["finetune"]["eval_batch_size"],
    script:
        "../../scripts/ood.py"

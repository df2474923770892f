# Fine-tuning: one job per {dataset} x {model} x {init} x {seed}.


rule finetune:
    input:
        meta=lambda wc: f"{STUDY.data_dir(wc.dataset, int(wc.seed), wc.model)}/meta.json",
        weights=lambda wc: STUDY.init_weights(wc.dataset, wc.model, wc.init),
        choice=lambda wc: STUDY.search_choice(wc.dataset, wc.model, wc.init),
    output:
        metrics=f"{RESULTS}/finetune/{{dataset}}/{{model}}/{{init}}/seed{{seed}}/metrics.json",
        log_csv=f"{RESULTS}/finetune/{{dataset}}/{{model}}/{{init}}/seed{{seed}}/log.csv",
        weights=f"{RESULTS}/finetune/{{dataset}}/{{model}}/{{init}}/seed{{seed}}/best.pt",
    log:
        f"{LOGS}/finetune/{{dataset}}/{{model}}/{{init}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/finetune/{{dataset}}/{{model}}/{{init}}/seed{{seed}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    threads: 1
    params:
        model=lambda wc: STUDY.model_configs[wc.model],
        weights=lambda wc: STUDY.weights_source(wc.dataset, wc.model, wc.init),
        hp=STUDY.finetune_settings,
        override=lambda wc: STUDY.finetune_override(wc.dataset, wc.model),
        input_size=lambda wc: STUDY.input_size_of(wc.model),
        eval_crop=config["eval_crop"],
    script:
        "../../scripts/finetune.py"

# Hyperparameter search: every grid point x search seed of each searched {dataset} x {model} x
# {init}, the choice per search, and its table (config search; vitmed/train/search.py).


rule search_run:
    input:
        meta=lambda wc: f"{STUDY.data_dir(wc.dataset, int(wc.seed), wc.model)}/meta.json",
        weights=lambda wc: STUDY.init_weights(wc.dataset, wc.model, wc.init),
    output:
        metrics=f"{RESULTS}/search/{{dataset}}/{{model}}/{{init}}/{{point}}/seed{{seed}}/metrics.json",
        log_csv=f"{RESULTS}/search/{{dataset}}/{{model}}/{{init}}/{{point}}/seed{{seed}}/log.csv",
    log:
        f"{LOGS}/search_run/{{dataset}}/{{model}}/{{init}}/{{point}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/search_run/{{dataset}}/{{model}}/{{init}}/{{point}}/seed{{seed}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    threads: 1
    params:
        model=lambda wc: STUDY.model_configs[wc.model],
        weights=lambda wc: STUDY.weights_source(wc.dataset, wc.model, wc.init),
        hp=STUDY.finetune_settings,
        override=lambda wc: STUDY.finetune_override(wc.dataset, wc.model),
        point=lambda wc: STUDY.search_points[wc.point],
        input_size=lambda wc: STUDY.input_size_of(wc.model),
        eval_crop=config["eval_crop"],
    script:
        "../../scripts/search_run.py"


rule search_choice:
    input:
        lambda wc: [
            f"{RESULTS}/search/{wc.dataset}/{wc.model}/{wc.init}/{point}/seed{seed}/metrics.json"
            for point in STUDY.search_points
            for seed in STUDY.search["seeds"]
        ],
    output:
        f"{RESULTS}/search/{{dataset}}/{{model}}/{{init}}/choice.json",
    log:
        f"{LOGS}/search_choice/{{dataset}}/{{model}}/{{init}}.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        points=STUDY.search_points,
    script:
        "../../scripts/search_choice.py"


rule search:
    """Every search's points, its choice and the fixed values beside it (tables/search.*)."""
    input:
        [f"{RESULTS}/search/{dataset}/{model}/{init}/choice.json" for dataset, model, init in STUDY.search_choices()],
    output:
        **artefact_outputs("search"),
    log:
        f"{LOGS}/search.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        searches=STUDY.search_choices(),
        finetune=STUDY.finetune_settings,
        overrides=config["finetune"]["overrides"],
        grid_keys=list(STUDY.search["grid"]),
        metrics=STUDY.metrics(STUDY.datasets),
        apply=STUDY.search["apply"],
        over=STUDY.repetition_unit,
        study=config["study"],
    script:
        "../../scripts/search.py"

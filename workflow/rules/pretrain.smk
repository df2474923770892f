# Initial weights: a publisher's released checkpoint (weights_url), and source pretraining, the
# offline stand-in for ImageNet weights (imagenet.source: synthetic).


rule fetch_weights:
    """Download a publisher's released checkpoint into downloads_dir/weights (shared by studies;
    resumable, never a partial file under its name). Local: needs internet."""
    output:
        f"{config['downloads_dir']}/weights/{{filename}}",
    log:
        f"{LOGS}/fetch_weights/{{filename}}.log",
    wildcard_constraints:
        filename="|".join(map(re.escape, STUDY.released_weights())) or "(?!)",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        url=lambda wc: STUDY.released_weights()[wc.filename],
    script:
        "../../scripts/fetch_weights.py"


rule pretrain_source:
    """Supervised training of a model on the synthetic source set; writes its weights file,
    which the imagenet init then loads through the same resolver as any weights file."""
    input:
        meta=f"{RESULTS}/data/{SOURCE}/meta.json",
    output:
        weights=f"{RESULTS}/weights/{{model}}/imagenet.pt",
        metrics=f"{RESULTS}/weights/{{model}}/source_metrics.json",
        log_csv=f"{RESULTS}/weights/{{model}}/source_log.csv",
    log:
        f"{LOGS}/pretrain_source/{{model}}.log",
    benchmark:
        f"{BENCH}/pretrain_source/{{model}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    threads: 1
    params:
        model=lambda wc: STUDY.model_configs[wc.model],
        source=config["imagenet"]["synthetic_source"],
        finetune=STUDY.finetune_settings,
        input_size=config["input_size"],
        eval_crop=config["eval_crop"],
    script:
        "../../scripts/pretrain_source.py"


rule pretrain_dino:
    """DINO on the target dataset's training images, from the ImageNet weights; writes the
    teacher backbone, which init dino loads through the same resolver as any weights file."""
    input:
        meta=f"{RESULTS}/data/{{dataset}}/meta.json",
        weights=lambda wc: STUDY.init_weights(wc.dataset, wc.model, "imagenet"),
    output:
        weights=f"{RESULTS}/dino/{{dataset}}/{{model}}/teacher.pt",
        log_csv=f"{RESULTS}/dino/{{dataset}}/{{model}}/log.csv",
    log:
        f"{LOGS}/pretrain_dino/{{dataset}}/{{model}}.log",
    benchmark:
        f"{BENCH}/pretrain_dino/{{dataset}}/{{model}}.tsv"
    conda:
        "../../envs/vitmed.yaml"
    threads: 1
    params:
        model=lambda wc: STUDY.model_configs[wc.model],
        weights=lambda wc: STUDY.weights_source(wc.dataset, wc.model, "imagenet"),
        dino=config["dino"],
    script:
        "../../scripts/pretrain_dino.py"

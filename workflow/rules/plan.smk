# Throughput of every model at the study's input size on the device this job runs on, for
# `python -m vitmed.plan` (GPU-hour estimates). Not part of `all`: run it where the study
# would run, e.g. `snakemake throughput --profile profiles/slurm`.


rule throughput:
    output:
        f"{RESULTS}/plan/throughput.csv",
    log:
        f"{LOGS}/throughput.log",
    conda:
        "../../envs/vitmed.yaml"
    threads: 1
    params:
        models={model: STUDY.model_configs[model] for model in STUDY.models + STUDY.ablation_models},
        input_size=config["input_size"],
        measure=config["plan"]["measure"],
        segmenters={model: STUDY.model_configs[model] for model in STUDY.segmentation_models},
        segmentation_size=STUDY.segmentation.get("input_size"),
        segmentation_batch=STUDY.segmentation_settings["batch_size"],
    script:
        "../../scripts/throughput.py"

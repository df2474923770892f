# aggregate -> tables and figures.


rule aggregate:
    """One tidy row per (dataset, model, init, seed, protocol, metric, value)."""
    input:
        finetune=sorted(set(finetune_metrics())),
        knn=expand(f"{RESULTS}/knn/{{dataset}}/metrics.json", dataset=STUDY.datasets),
        linear=expand(f"{RESULTS}/linear/{{dataset}}/metrics.json", dataset=STUDY.datasets) if STUDY.linear_on else [],
        ood=expand(f"{RESULTS}/ood/{{dataset}}/metrics.json", dataset=list(STUDY.ood_tests)),
        segment=segment_metrics(),
    output:
        f"{RESULTS}/runs.parquet",
    log:
        f"{LOGS}/aggregate.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/aggregate.py"


rule tables:
    """Table 1 (fine-tuning), Table 2 (segmentation), Table 3 (k-NN), the linear probe,
    out-of-distribution tests: median +- std over seeds."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        **artefact_outputs("tables"),
    log:
        f"{LOGS}/tables.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        tables={
            name: {
                "protocol": TABLE_PROTOCOLS[name],
                "title": STUDY.table_title(name),
                # the OOD table has a column for each dataset with a test set only
                "metrics": (
                    STUDY.metrics([d for d in STUDY.datasets if name != "ood" or d in STUDY.ood_tests])
                    if name != "table2"
                    else {d: "iou" for d in STUDY.segmentation_datasets}
                ),
                "models": STUDY.segmentation_models if name == "table2" else STUDY.models,
                "inits": [STUDY.segmentation_init] if name == "table2" else STUDY.inits,
            }
            for name in STUDY.result_tables
        },
    script:
        "../../scripts/tables.py"


rule figure1:
    """Figure 1: fine-tuning vs k-NN (and linear probe) per dataset, model and init (median, error bar = std)."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        **artefact_outputs("figure1"),
    log:
        f"{LOGS}/figure1.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        datasets=STUDY.datasets,
        models=STUDY.models,
        inits=STUDY.inits,
    script:
        "../../scripts/figure1.py"


rule figure5:
    """Figure 5: mean attention distance per layer and head (one point per head)."""
    input:
        expand(f"{RESULTS}/analysis/attention_distance/{{dataset}}.parquet", dataset=STUDY.datasets),
    output:
        **artefact_outputs("figure5"),
        table=f"{RESULTS}/analysis/attention_distance.parquet",
    log:
        f"{LOGS}/figure5.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/figure5.py"


rule figure_cka:
    """CKA heatmaps: layer x layer, initialized vs fine-tuned, per dataset, model and init;
    and last-layer CKA between the study's models."""
    input:
        layers=expand(f"{RESULTS}/analysis/cka/{{dataset}}/layers.parquet", dataset=STUDY.datasets),
        models=expand(f"{RESULTS}/analysis/cka/{{dataset}}/models.parquet", dataset=STUDY.datasets),
    output:
        **artefact_outputs("figure_cka"),
        layers=f"{RESULTS}/analysis/cka_layers.parquet",
        models=f"{RESULTS}/analysis/cka_models.parquet",
    log:
        f"{LOGS}/figure_cka.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/figure_cka.py"


rule figure4:
    """Figure 4: original, Grad-CAM of the CNN and top-mass CLS attention of the ViT."""
    input:
        expand(f"{RESULTS}/analysis/saliency/{{dataset}}.npz", dataset=STUDY.datasets),
    output:
        **artefact_outputs("figure4"),
    log:
        f"{LOGS}/figure4.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        datasets=STUDY.datasets,
        mass=STUDY.saliency["mass"],
    script:
        "../../scripts/figure4.py"


rule welch:
    """CNN vs ViT at equal dataset, init and protocol: Welch's t-test over seeds."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        **artefact_outputs("welch"),
    log:
        f"{LOGS}/welch.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        # the study's models and the segmentation encoders (the ablations have their own tables)
        families={name: STUDY.family(name) for name in dict.fromkeys(STUDY.models + STUDY.segmentation_models)},
        study=config["study"],
        over=STUDY.repetition_unit,
    script:
        "../../scripts/welch.py"


rule claims:
    """The papers' findings (vitmed/report/claims.csv) on the study's runs (and Figure 5's attention
    distances), beside the verdicts of each paper's published numbers."""
    input:
        **({"attention": f"{RESULTS}/analysis/attention_distance.parquet"} if STUDY.attention_models else {}),
        **({"usage": f"{RESULTS}/tables/feature_usage.csv"} if STUDY.feature_usage_on else {}),
        runs=f"{RESULTS}/runs.parquet",
    output:
        **artefact_outputs("claims"),
    log:
        f"{LOGS}/claims.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        families={name: STUDY.family(name) for name in STUDY.models},
        capacity=STUDY.capacity,
        patch_sizes=STUDY.patch_sizes,
        ablation_init=STUDY.ablation_init,
        self_attention=STUDY.self_attention,
        freezing=STUDY.freezing_depths(),
        scenarios=STUDY.protocol_variants(),
        usage_dataset=STUDY.feature_usage["dataset"],
        study=config["study"],
        synthetic=all(cfg["source"] == "synthetic" for cfg in config["datasets"].values()),
    script:
        "../../scripts/claims.py"


rule published_comparison:
    """Our medians beside the published tables of the study's paper (real-data studies)."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        **artefact_outputs("published_comparison"),
    log:
        f"{LOGS}/published_comparison.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        patch_sizes=STUDY.patch_sizes,
        scenarios=STUDY.protocol_variants(),
        paper=config["paper"],
        study=config["study"],
    script:
        "../../scripts/published_comparison.py"


rule capacity:
    """Table 4 and Figure 3: each family's models at increasing size, one init."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        **artefact_outputs("capacity"),
    log:
        f"{LOGS}/capacity.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        capacity=STUDY.capacity,
        init=STUDY.ablation_init,
        datasets=STUDY.metrics(STUDY.ablation_datasets),
        models=STUDY.model_configs,
        study=config["study"],
    script:
        "../../scripts/capacity.py"


rule patch_size:
    """Table 5: one ViT with different patch sizes, one init."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        **artefact_outputs("patch_size"),
    log:
        f"{LOGS}/patch_size.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        patch_sizes=STUDY.patch_sizes,
        init=STUDY.ablation_init,
        datasets=STUDY.metrics(STUDY.ablation_datasets),
        models=STUDY.model_configs,
        study=config["study"],
    script:
        "../../scripts/patch_size.py"


rule freezing:
    """Progressive freezing: a ViT fine-tuned with its first blocks frozen ("Are Natural Domain
    Foundation Models Useful for Medical Image Classification?", Figure 4)."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        **artefact_outputs("freezing"),
    log:
        f"{LOGS}/freezing.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        frozen={
            base: {base: 0, **{name: blocks for blocks, name in depths.items()}}
            for base, depths in STUDY.freezing_depths().items()
            if depths
        },
        init=STUDY.ablation_init,
        datasets=STUDY.metrics(STUDY.ablation_datasets),
        study=config["study"],
    script:
        "../../scripts/freezing.py"


rule self_attention:
    """CNNs with and without self-attention blocks, Welch's t-test per dataset, then the study's
    ViTs ("When Medical Imaging Met Self-Attention", Table 2)."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        **artefact_outputs("self_attention"),
    log:
        f"{LOGS}/self_attention.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        variants=STUDY.self_attention,
        vits=STUDY.self_attention_vits,
        init=STUDY.ablation_init,
        ood=STUDY.ood_tests,
        datasets=STUDY.metrics(STUDY.ablation_datasets),
        study=config["study"],
        over=STUDY.repetition_unit,
    script:
        "../../scripts/self_attention.py"


rule scenarios:
    """Frozen and unfrozen foundations with a fine-tuned linear head ("Are Natural Domain
    Foundation Models Useful ...?", Tables 1 and 2, Linear rows)."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        **artefact_outputs("scenarios"),
    log:
        f"{LOGS}/scenarios.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        scenarios=STUDY.scenario_variants(),
        init=STUDY.ablation_init,
        datasets=STUDY.metrics(STUDY.ablation_datasets),
        study=config["study"],
    script:
        "../../scripts/scenarios.py"


rule decapitation:
    """Decapitated foundations with an appended classifier, frozen and fine-tuned ("Are Natural
    Domain Foundation Models Useful ...?", Figure 5)."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        **artefact_outputs("decapitation"),
    log:
        f"{LOGS}/decapitation.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        decapitations=STUDY.decapitations(),
        init=STUDY.ablation_init,
        datasets=STUDY.metrics(STUDY.ablation_datasets),
        study=config["study"],
    script:
        "../../scripts/decapitation.py"


rule times:
    """Training and inference time relative to a baseline ("Are Natural Domain Foundation Models
    Useful ...?", Figure 3), from the fine-tuning runs' own measurements."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        **artefact_outputs("times"),
    log:
        f"{LOGS}/times.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        models=STUDY.models,
        scenarios=STUDY.scenario_variants(),
        baseline=STUDY.times_baseline,
        init=STUDY.ablation_init,
        datasets=STUDY.ablation_datasets,
        study=config["study"],
    script:
        "../../scripts/times.py"


rule resolution:
    """Models fine-tuned at their own, higher input size beside the study's ("Are Natural Domain
    Foundation Models Useful ...?", Table 3, gains in brackets)."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        **artefact_outputs("resolution"),
    log:
        f"{LOGS}/resolution.log",
    localrule: True
    conda:
        "../../envs/vitmed.yaml"
    params:
        resolution=STUDY.resolution,
        sizes=STUDY.resolution_sizes(),
        base_size=config["input_size"],
        init=STUDY.ablation_init,
        datasets=STUDY.metrics(STUDY.ablation_datasets),
        study=config["study"],
    script:
        "../../scripts/resolution.py"

# aggregate -> tables and figures.


rule aggregate:
    """One tidy row per (dataset, model, init, seed, protocol, metric, value)."""
    input:
        finetune=sorted(set(finetune_metrics(DATASETS, MODELS, INITS) +  # ablations share some runs
                            finetune_metrics(ABLATION_DATASETS, ABLATION_MODELS, [ABLATIONS["init"]]))),
        knn=expand(f"{RESULTS}/knn/{{dataset}}/metrics.json", dataset=DATASETS),
        linear=expand(f"{RESULTS}/linear/{{dataset}}/metrics.json", dataset=DATASETS) if LINEAR_ON else [],
        ood=expand(f"{RESULTS}/ood/{{dataset}}/metrics.json", dataset=list(OOD_TESTS)),
    output:
        f"{RESULTS}/runs.parquet",
    localrule: True
    log:
        f"{LOGS}/aggregate.log",
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/aggregate.py"


rule tables:
    """Table 1 (fine-tuning), Table 3 (k-NN), the linear probe, out-of-distribution tests:
    median +- std over seeds."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        **{f"{table}_{ext}": report(f"{RESULTS}/tables/{table}.{ext}", category=category,
                                    caption=f"../report/{table}.rst")
           for table, category in RESULT_TABLES.items()
           for ext in ["csv", "md", "tex"]},
    params:
        datasets={name: config["datasets"][name]["metric"] for name in DATASETS},
        models=MODELS,
        inits=INITS,
        study=config["study"],
        tables=list(RESULT_TABLES),
        ood=OOD_TESTS,
    localrule: True
    log:
        f"{LOGS}/tables.log",
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/tables.py"


rule figure1:
    """Figure 1: fine-tuning vs k-NN (and linear probe) per dataset, model and init (median, error bar = std)."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        png=report(f"{RESULTS}/figures/figure1.png", category="Figure 1", caption="../report/figure1.rst"),
        pdf=f"{RESULTS}/figures/figure1.pdf",
    params:
        datasets=DATASETS,
        models=MODELS,
        inits=INITS,
    localrule: True
    log:
        f"{LOGS}/figure1.log",
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/figure1.py"


rule figure5:
    """Figure 5: mean attention distance per layer and head (one point per head)."""
    input:
        expand(f"{RESULTS}/analysis/attention_distance/{{dataset}}.parquet", dataset=DATASETS),
    output:
        table=f"{RESULTS}/analysis/attention_distance.parquet",
        png=report(f"{RESULTS}/figures/figure5.png", category="Figure 5", caption="../report/figure5.rst"),
        pdf=f"{RESULTS}/figures/figure5.pdf",
    localrule: True
    log:
        f"{LOGS}/figure5.log",
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/figure5.py"


rule figure_cka:
    """CKA heatmaps: layer x layer, initialized vs fine-tuned, per dataset, model and init;
    and last-layer CKA between the study's models."""
    input:
        layers=expand(f"{RESULTS}/analysis/cka/{{dataset}}/layers.parquet", dataset=DATASETS),
        models=expand(f"{RESULTS}/analysis/cka/{{dataset}}/models.parquet", dataset=DATASETS),
    output:
        layers=f"{RESULTS}/analysis/cka_layers.parquet",
        models=f"{RESULTS}/analysis/cka_models.parquet",
        layers_png=report(f"{RESULTS}/figures/cka.png", category="CKA", caption="../report/cka.rst"),
        layers_pdf=f"{RESULTS}/figures/cka.pdf",
        models_png=report(f"{RESULTS}/figures/cka_models.png", category="CKA",
                          caption="../report/cka_models.rst"),
        models_pdf=f"{RESULTS}/figures/cka_models.pdf",
    localrule: True
    log:
        f"{LOGS}/figure_cka.log",
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/figure_cka.py"


rule figure4:
    """Figure 4: original, Grad-CAM of the CNN and top-mass CLS attention of the ViT."""
    input:
        expand(f"{RESULTS}/analysis/saliency/{{dataset}}.npz", dataset=DATASETS),
    output:
        png=report(f"{RESULTS}/figures/figure4.png", category="Figure 4", caption="../report/figure4.rst"),
        pdf=f"{RESULTS}/figures/figure4.pdf",
    params:
        datasets=DATASETS,
        mass=SALIENCY["mass"],
    localrule: True
    log:
        f"{LOGS}/figure4.log",
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/figure4.py"


rule welch:
    """CNN vs ViT at equal dataset, init and protocol: Welch's t-test over seeds."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        csv=f"{RESULTS}/tables/welch.csv",
        md=report(f"{RESULTS}/tables/welch.md", category="CNN vs ViT statistics", caption="../report/welch.rst"),
    params:
        families={name: model["family"] for name, model in config["models"].items()},
        study=config["study"],
    localrule: True
    log:
        f"{LOGS}/welch.log",
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/welch.py"


rule published_comparison:
    """Our medians beside the paper's Tables 1, 3, 4 and 5 (real-data studies)."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        csv=f"{RESULTS}/tables/published_comparison.csv",
        md=report(f"{RESULTS}/tables/published_comparison.md", category="Comparison with the paper",
                  caption="../report/published_comparison.rst"),
    params:
        patch_sizes=PATCH_SIZES,
        study=config["study"],
    localrule: True
    log:
        f"{LOGS}/published_comparison.log",
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/published_comparison.py"


rule capacity:
    """Table 4 and Figure 3: each family's models at increasing size, one init."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        csv=f"{RESULTS}/tables/table4.csv",
        md=report(f"{RESULTS}/tables/table4.md", category="Table 4", caption="../report/table4.rst"),
        tex=f"{RESULTS}/tables/table4.tex",
        png=report(f"{RESULTS}/figures/figure3.png", category="Figure 3", caption="../report/figure3.rst"),
        pdf=f"{RESULTS}/figures/figure3.pdf",
    params:
        capacity=CAPACITY,
        init=ABLATIONS["init"],
        datasets={name: config["datasets"][name]["metric"] for name in ABLATION_DATASETS},
        models=MODEL_CONFIGS,
        study=config["study"],
    localrule: True
    log:
        f"{LOGS}/capacity.log",
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/capacity.py"


rule patch_size:
    """Table 5: one ViT with different patch sizes, one init."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        csv=f"{RESULTS}/tables/table5.csv",
        md=report(f"{RESULTS}/tables/table5.md", category="Table 5", caption="../report/table5.rst"),
        tex=f"{RESULTS}/tables/table5.tex",
    params:
        patch_sizes=PATCH_SIZES,
        init=ABLATIONS["init"],
        datasets={name: config["datasets"][name]["metric"] for name in ABLATION_DATASETS},
        models=MODEL_CONFIGS,
        study=config["study"],
    localrule: True
    log:
        f"{LOGS}/patch_size.log",
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/patch_size.py"


rule freezing:
    """Progressive freezing: a ViT fine-tuned with its first blocks frozen ("Are Natural Domain
    Foundation Models Useful for Medical Image Classification?", Figure 4)."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        csv=f"{RESULTS}/tables/freezing.csv",
        md=report(f"{RESULTS}/tables/freezing.md", category="Freezing", caption="../report/freezing.rst"),
        tex=f"{RESULTS}/tables/freezing.tex",
        png=report(f"{RESULTS}/figures/freezing.png", category="Freezing", caption="../report/freezing.rst"),
        pdf=f"{RESULTS}/figures/freezing.pdf",
    params:
        frozen={base: {name: MODEL_CONFIGS[name]["freeze_blocks"] for name in [base, *variants]}
                for base, variants in FREEZING.items()},
        init=ABLATIONS["init"],
        datasets={name: config["datasets"][name]["metric"] for name in ABLATION_DATASETS},
        study=config["study"],
    localrule: True
    log:
        f"{LOGS}/freezing.log",
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/freezing.py"


rule self_attention:
    """CNNs with and without self-attention blocks, Welch's t-test per dataset ("When Medical
    Imaging Met Self-Attention", Table 2)."""
    input:
        f"{RESULTS}/runs.parquet",
    output:
        csv=f"{RESULTS}/tables/self_attention.csv",
        md=report(f"{RESULTS}/tables/self_attention.md", category="Self-attention",
                  caption="../report/self_attention.rst"),
        tex=f"{RESULTS}/tables/self_attention.tex",
    params:
        variants=SELF_ATTENTION,
        init=ABLATIONS["init"],
        ood=OOD_TESTS,
        datasets={name: config["datasets"][name]["metric"] for name in ABLATION_DATASETS},
        study=config["study"],
    localrule: True
    log:
        f"{LOGS}/self_attention.log",
    conda:
        "../../envs/vitmed.yaml"
    script:
        "../../scripts/self_attention.py"

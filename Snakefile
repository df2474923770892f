# vitmed: regenerate "Pretrained ViTs Yield Versatile Representations For Medical Images".
#   snakemake --cores all --use-conda                                   # the paper (config.yaml)
#   snakemake --cores 2 --configfile presets/synthetic.yaml             # offline CPU demo
# Targets and includes only: paths and wiring live in workflow/rules/, logic in vitmed/.
from snakemake.utils import min_version, validate

min_version("9.20")


# config.yaml is the paper's study; a --configfile (a preset) replaces it rather than
# being merged into it, so a preset never inherits the paper's datasets.
if not config:

    configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analyze.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/plan.smk"


rule all:
    input:
        expand(f"{RESULTS}/tables/{{table}}.{{ext}}", table=list(RESULT_TABLES), ext=["csv", "md", "tex"]),
        expand(f"{RESULTS}/tables/welch.{{ext}}", ext=["csv", "md"]),
        expand(f"{RESULTS}/tables/published_comparison.{{ext}}", ext=["csv", "md"]) if config["published_comparison"] else [],
        expand(f"{RESULTS}/figures/{{figure}}.{{ext}}", figure=["figure1", "cka", "cka_models"], ext=["png", "pdf"]),
        expand(f"{RESULTS}/figures/figure5.{{ext}}", ext=["png", "pdf"]) if ATTENTION_MODELS else [],
        expand(f"{RESULTS}/figures/figure4.{{ext}}", ext=["png", "pdf"]) if SALIENCY_ON else [],
        expand(f"{RESULTS}/tables/table4.{{ext}}", ext=["csv", "md", "tex"]) if CAPACITY_ON else [],
        expand(f"{RESULTS}/figures/figure3.{{ext}}", ext=["png", "pdf"]) if CAPACITY_ON else [],
        expand(f"{RESULTS}/tables/table5.{{ext}}", ext=["csv", "md", "tex"]) if PATCH_SIZES else [],
        expand(f"{RESULTS}/tables/self_attention.{{ext}}", ext=["csv", "md", "tex"]) if SELF_ATTENTION else [],
        expand(f"{RESULTS}/tables/freezing.{{ext}}", ext=["csv", "md", "tex"]) if FREEZING else [],
        expand(f"{RESULTS}/figures/freezing.{{ext}}", ext=["png", "pdf"]) if FREEZING else [],
    default_target: True

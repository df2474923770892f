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


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analyze.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/plan.smk"


# Every table and figure of the study (vitmed.study.Study.artefacts).
rule all:
    default_target: True
    input:
        final_outputs(),

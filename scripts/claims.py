"""Rule claims: the papers' findings evaluated on the study's runs, beside their published verdicts."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.claims import claims_markdown, claims_table
from vitmed.report.tables import write_table

log = setup_job(snakemake.log[0], threads=0)
params = snakemake.params
attention = pd.read_parquet(snakemake.input.attention) if "attention" in snakemake.input.keys() else None
usage = pd.read_csv(snakemake.input.usage) if "usage" in snakemake.input.keys() else None
table = claims_table(pd.read_parquet(snakemake.input.runs), families=params.families, capacity=params.capacity,
                     patch_sizes=params.patch_sizes, ablation_init=params.ablation_init,
                     self_attention=params.self_attention, freezing=params.freezing,
                     scenarios=params.scenarios, attention=attention, usage=usage,
                     usage_dataset=params.usage_dataset)
write_table(named_files(snakemake.output, "claims"), table, claims_markdown(table, params.study, params.synthetic))
log.info("%d claims: %s", len(table), table["verdict"].value_counts().to_dict())

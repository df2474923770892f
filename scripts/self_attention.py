"""Rule self_attention: CNNs with and without self-attention blocks, Welch's t-tests."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.ablations import self_attention_report
from vitmed.report.tables import write_table

log = setup_job(snakemake.log[0], threads=0)
params = snakemake.params
table, markdown, latex = self_attention_report(pd.read_parquet(snakemake.input[0]), params.variants, params.init,
                                               params.datasets, params.ood, params.study, params.vits,
                                               over=params.over)
write_table(named_files(snakemake.output, "self_attention"), table, markdown, latex)
log.info("self-attention: %d cells, %d significant", len(table), int(table["significant"].sum()))

"""Rule welch: CNN-vs-ViT Welch t-tests over seeds (or data splits)."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.compare import welch_markdown, welch_tests
from vitmed.report.tables import write_table

log = setup_job(snakemake.log[0], threads=0)
params = snakemake.params
tests = welch_tests(pd.read_parquet(snakemake.input[0]), params.families)
write_table(named_files(snakemake.output, "welch"), tests, welch_markdown(tests, params.study, params.over))
log.info("%d CNN-vs-ViT tests, %d with p < 0.05", len(tests), int((tests["p_value"] < 0.05).sum()))

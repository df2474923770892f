"""Rule welch: CNN-vs-ViT Welch t-tests over seeds."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.io import write_text
from vitmed.report.compare import welch_markdown, welch_tests
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], threads=0)
tests = welch_tests(pd.read_parquet(snakemake.input[0]), snakemake.params.families)
write_text(snakemake.output.csv, tests.to_csv(index=False))
write_text(snakemake.output.md, welch_markdown(tests, snakemake.params.study))
log.info("%d CNN-vs-ViT tests, %d with p < 0.05", len(tests), int((tests["p_value"] < 0.05).sum()))

"""Rule figure1: fine-tuning vs k-NN bars (PNG and PDF)."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.figures import figure1, save_figure

setup_job(snakemake.log[0], threads=0)
params = snakemake.params
fig = figure1(pd.read_parquet(snakemake.input[0]), params.datasets, params.models, params.inits)
save_figure(fig, named_files(snakemake.output, "figure1"))

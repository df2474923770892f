"""Rule figure1: fine-tuning vs k-NN bars (PNG and PDF)."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.report.figures import figure1, save_figure
from vitmed.runtime import setup_job

setup_job(snakemake.log[0], threads=0)
params = snakemake.params
fig = figure1(pd.read_parquet(snakemake.input[0]), params.datasets, params.models, params.inits)
save_figure(fig, {"png": snakemake.output.png, "pdf": snakemake.output.pdf})

"""Rule figure1: fine-tuning vs k-NN bars (PNG and PDF)."""
import pandas as pd

from vitmed.io import atomic_path
from vitmed.report.figures import figure1
from vitmed.runtime import setup_job

setup_job(snakemake.log[0], threads=0)
params = snakemake.params
fig = figure1(pd.read_parquet(snakemake.input[0]), params.datasets, params.models, params.inits)
for key in ("png", "pdf"):
    with atomic_path(snakemake.output[key]) as tmp:
        fig.savefig(tmp, format=key, dpi=200, bbox_inches="tight")

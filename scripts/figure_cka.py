"""Rule figure_cka: per-dataset CKA tables -> two study tables and their heatmap figures."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.io import write_parquet
from vitmed.report import figures
from vitmed.runtime import setup_job

setup_job(snakemake.log[0], threads=0)
for kind, plot in (("layers", figures.figure_cka), ("models", figures.figure_cka_models)):
    table = pd.concat([pd.read_parquet(path) for path in snakemake.input[kind]], ignore_index=True)
    write_parquet(snakemake.output[kind], table)
    figures.save_figure(plot(table), {"png": snakemake.output[f"{kind}_png"],
                                      "pdf": snakemake.output[f"{kind}_pdf"]})

"""Rule figure_cka: per-dataset CKA tables -> two study tables and their heatmap figures."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files, write_parquet
from vitmed.jobs.runtime import setup_job
from vitmed.report.figures import figure_cka, figure_cka_models, save_figure

setup_job(snakemake.log[0], threads=0)
for kind, figure, plot in (("layers", "cka", figure_cka), ("models", "cka_models", figure_cka_models)):
    table = pd.concat([pd.read_parquet(path) for path in snakemake.input[kind]], ignore_index=True)
    write_parquet(snakemake.output[kind], table)
    save_figure(plot(table), named_files(snakemake.output, figure))

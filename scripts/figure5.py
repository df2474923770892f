"""Rule figure5: per-job attention-distance tables -> one table and Figure 5."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files, write_parquet
from vitmed.jobs.runtime import setup_job
from vitmed.report.figures import figure5, save_figure

setup_job(snakemake.log[0], threads=0)
table = pd.concat([pd.read_parquet(path) for path in snakemake.input], ignore_index=True)
write_parquet(snakemake.output.table, table)
save_figure(figure5(table), named_files(snakemake.output, "figure5"))

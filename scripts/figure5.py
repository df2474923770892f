"""Rule figure5: per-job attention-distance tables -> one table and Figure 5."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.io import write_parquet
from vitmed.report import figures
from vitmed.runtime import setup_job

setup_job(snakemake.log[0], threads=0)
table = pd.concat([pd.read_parquet(path) for path in snakemake.input], ignore_index=True)
write_parquet(snakemake.output.table, table)
figures.save_figure(figures.figure5(table), {"png": snakemake.output.png, "pdf": snakemake.output.pdf})

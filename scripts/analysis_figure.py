"""Rules figure5 and figure_cka: per-job analysis tables -> one table and its figure."""
import pandas as pd

from vitmed.io import write_parquet
from vitmed.report import figures
from vitmed.runtime import setup_job

setup_job(snakemake.log[0], threads=0)
table = pd.concat([pd.read_parquet(path) for path in snakemake.input], ignore_index=True)
write_parquet(snakemake.output.table, table)
fig = getattr(figures, snakemake.params.figure)(table)
figures.save_figure(fig, {"png": snakemake.output.png, "pdf": snakemake.output.pdf})

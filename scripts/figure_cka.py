"""Rule figure_cka: layer x layer CKA of every model -> one table and heatmaps."""
import pandas as pd

from vitmed.io import atomic_path, write_parquet
from vitmed.report.figures import figure_cka
from vitmed.runtime import setup_job

setup_job(snakemake.log[0], threads=0)
cka = pd.concat([pd.read_parquet(path) for path in snakemake.input], ignore_index=True)
write_parquet(snakemake.output.table, cka)
fig = figure_cka(cka)
for key in ("png", "pdf"):
    with atomic_path(snakemake.output[key]) as tmp:
        fig.savefig(tmp, format=key, dpi=200, bbox_inches="tight")

"""Rule figure5: attention distances of every ViT -> one table and Figure 5."""
import pandas as pd

from vitmed.io import atomic_path, write_parquet
from vitmed.report.figures import figure5
from vitmed.runtime import setup_job

setup_job(snakemake.log[0], threads=0)
distances = pd.concat([pd.read_parquet(path) for path in snakemake.input], ignore_index=True)
write_parquet(snakemake.output.table, distances)
fig = figure5(distances)
for key in ("png", "pdf"):
    with atomic_path(snakemake.output[key]) as tmp:
        fig.savefig(tmp, format=key, dpi=200, bbox_inches="tight")

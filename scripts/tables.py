"""Rule tables: Table 1 (fine-tuning), Table 2 (segmentation), Table 3 (k-NN), the linear probe and
the out-of-distribution tests as CSV, Markdown and LaTeX."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.tables import result_table, write_table

setup_job(snakemake.log[0], threads=0)
params = snakemake.params
runs = pd.read_parquet(snakemake.input[0])
for name, table in params.tables.items():
    write_table(named_files(snakemake.output, name),
                *result_table(runs, table["protocol"], table["inits"], table["models"], table["metrics"],
                              table["title"]))

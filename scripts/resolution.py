"""Rule resolution: higher-resolution fine-tuning beside the study's size (the foundation paper's Table 3)."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.ablations import resolution_markdown, resolution_table
from vitmed.report.tables import write_table

log = setup_job(snakemake.log[0], threads=0)
params = snakemake.params
table = resolution_table(pd.read_parquet(snakemake.input[0]), params.resolution, params.sizes, params.init,
                         list(params.datasets))
write_table(named_files(snakemake.output, "resolution"), table,
            resolution_markdown(table, params.datasets, params.base_size, params.init, params.study))
log.info("resolution: %d cells, mean gain %.4f", len(table), table["gain"].mean())

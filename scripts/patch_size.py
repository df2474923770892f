"""Rule patch_size: Table 5 (one ViT with different patch sizes)."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.ablations import patch_size_report
from vitmed.report.tables import write_table

log = setup_job(snakemake.log[0], threads=0)
params = snakemake.params
table, markdown, latex = patch_size_report(pd.read_parquet(snakemake.input[0]), params.patch_sizes, params.init,
                                           params.datasets, params.models, params.study)
write_table(named_files(snakemake.output, "table5"), table, markdown, latex)
log.info("Table 5: %d cells", len(table))

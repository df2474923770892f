"""Rule scenarios: the foundation paper's frozen and unfrozen foundations with a linear head (Tables 1, 2)."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.ablations import scenarios_report
from vitmed.report.tables import write_table

log = setup_job(snakemake.log[0], threads=0)
params = snakemake.params
table, markdown, latex = scenarios_report(pd.read_parquet(snakemake.input[0]), params.scenarios, params.init,
                                          params.datasets, params.study)
write_table(named_files(snakemake.output, "scenarios"), table, markdown, latex)
log.info("scenarios: %d cells", len(table))

"""Rule capacity: Table 4 (ResNet and DeiT families at increasing size) and Figure 3."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.ablations import capacity_report
from vitmed.report.figures import figure3, save_figure
from vitmed.report.tables import write_table

log = setup_job(snakemake.log[0], threads=0)
params, output = snakemake.params, snakemake.output
table, markdown, latex = capacity_report(pd.read_parquet(snakemake.input[0]), params.capacity, params.init,
                                         params.datasets, params.models, params.study)
write_table(named_files(output, "table4"), table, markdown, latex)
save_figure(figure3(table), named_files(output, "figure3"))
log.info("Table 4: %d cells", len(table))

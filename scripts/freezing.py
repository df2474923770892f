"""Rule freezing: progressive freezing of ViTs as a table and a figure."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.ablations import freezing_report
from vitmed.report.figures import figure_freezing, save_figure
from vitmed.report.tables import write_table

log = setup_job(snakemake.log[0], threads=0)
params, output = snakemake.params, snakemake.output
table, markdown, latex = freezing_report(pd.read_parquet(snakemake.input[0]), params.frozen, params.init,
                                         params.datasets, params.study)
write_table(named_files(output, "freezing", ("csv", "md", "tex")), table, markdown, latex)
save_figure(figure_freezing(table), named_files(output, "freezing", ("png", "pdf")))
log.info("freezing: %d cells", len(table))

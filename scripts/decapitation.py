"""Rule decapitation: decapitated foundations with an appended classifier (table and figure)."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.ablations import decapitation_report
from vitmed.report.figures import figure_decapitation, save_figure
from vitmed.report.tables import write_table

log = setup_job(snakemake.log[0], threads=0)
params, output = snakemake.params, snakemake.output
table, markdown, latex = decapitation_report(pd.read_parquet(snakemake.input[0]), params.decapitations, params.init,
                                             params.datasets, params.study)
write_table(named_files(output, "decapitation", ("csv", "md", "tex")), table, markdown, latex)
save_figure(figure_decapitation(table), named_files(output, "decapitation", ("png", "pdf")))
log.info("decapitation: %d cells", len(table))

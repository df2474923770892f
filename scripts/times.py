"""Rule times: training and inference time relative to a baseline (table and figure)."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.figures import figure_times, save_figure
from vitmed.report.tables import write_table
from vitmed.report.times import times_markdown, times_table

log = setup_job(snakemake.log[0], threads=0)
params, output = snakemake.params, snakemake.output
table = times_table(pd.read_parquet(snakemake.input[0]), params.models, params.scenarios, params.baseline, params.init,
                    params.datasets)
write_table(named_files(output, "times", ("csv", "md")), table, times_markdown(table, params.baseline, params.study))
save_figure(figure_times(table, params.baseline), named_files(output, "times", ("png", "pdf")))
log.info("times of %d models relative to %s", len(table), params.baseline)

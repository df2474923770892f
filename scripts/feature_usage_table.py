"""Rule feature_usage_table: Piater et al.'s Table 3 from every model's feature-usage tests."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import pandas as pd

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.feature_usage import feature_usage_latex, feature_usage_markdown, feature_usage_table
from vitmed.report.tables import write_table

log = setup_job(snakemake.log[0], threads=0)
params = snakemake.params
table = feature_usage_table([pd.read_parquet(path) for path in snakemake.input], params.models)
settings = params.settings
args = (params.title, settings["alpha"], settings["tests"], params.over)
write_table(named_files(snakemake.output, "feature_usage"), table, feature_usage_markdown(table, *args),
            feature_usage_latex(table, *args))
log.info("feature usage: %d models, %d of %d (model, feature) pairs used", table["model"].nunique(),
         int(table["used"].fillna(False).sum()), len(table))

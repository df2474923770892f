"""Rule search: the hyperparameter search's table (tables/search.{csv,md})."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import json
from pathlib import Path

from vitmed.jobs.io import named_files
from vitmed.jobs.runtime import setup_job
from vitmed.report.search import fixed_values, search_markdown, search_table
from vitmed.report.tables import write_table

log = setup_job(snakemake.log[0], threads=0)
params = snakemake.params
keys = [tuple(key) for key in params.searches]
choices = {key: json.loads(Path(path).read_text()) for key, path in zip(keys, snakemake.input)}
fixed = {(d, m, i): fixed_values(params.finetune, params.overrides.get(d, {}).get(m, {}), i, params.grid_keys)
         for d, m, i in keys}
table = search_table(choices, fixed)
write_table(named_files(snakemake.output, "search"), table,
            search_markdown(table, fixed, params.metrics, params.apply, params.over, params.study))
log.info("%d searches, %d chose the fixed values", len(keys), int(table[table["chosen"]]["fixed"].sum()))

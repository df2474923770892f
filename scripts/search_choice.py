"""Rule search_choice: the best point of one {dataset} x {model} x {init} search."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import json
from pathlib import Path

import pandas as pd

from vitmed.jobs.io import write_json
from vitmed.jobs.runtime import setup_job
from vitmed.train.search import choose

log = setup_job(snakemake.log[0], threads=0)
results = pd.DataFrame([json.loads(Path(path).read_text()) for path in snakemake.input])
choice = choose(results, snakemake.params.points, snakemake.output[0])
write_json(snakemake.output[0], choice)
log.info("chose %s", choice["point"])

"""Rule aggregate: every job's metrics -> runs.parquet."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from vitmed.jobs.io import write_parquet
from vitmed.jobs.runtime import setup_job
from vitmed.report.runs import collect_runs

log = setup_job(snakemake.log[0], threads=0)
runs = collect_runs(list(snakemake.input))  # fine-tuning, k-NN, linear probe, OOD tests
write_parquet(snakemake.output[0], runs)
log.info("%d runs", len(runs))

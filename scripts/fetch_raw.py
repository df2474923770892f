"""Rule fetch_raw: download a real dataset (or take its configured raw_dir) and record where it is."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from vitmed.data.fetch import raw_record
from vitmed.jobs.io import write_json
from vitmed.jobs.runtime import setup_job

log = setup_job(snakemake.log[0], threads=0)
record = raw_record(snakemake.wildcards.dataset, snakemake.params.cfg, snakemake.params.downloads)
write_json(snakemake.output[0], record)
log.info("raw data of %s: %s", snakemake.wildcards.dataset, record)

"""Rule locate_raw: record where a real dataset's raw folder is."""
from vitmed.data.adapters import locate_raw
from vitmed.io import write_json
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], threads=0)
record = locate_raw(snakemake.wildcards.dataset, snakemake.params.cfg)
write_json(snakemake.output[0], record)
log.info("raw data of %s: %s", snakemake.wildcards.dataset, record)

"""Rule fetch_weights: a publisher's released checkpoint, downloaded once (vitmed.data.download)."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from vitmed.data.download import download
from vitmed.jobs.runtime import setup_job

log = setup_job(snakemake.log[0], threads=0)
path = download(snakemake.params.url, snakemake.output[0])
log.info("%s: %.1f MiB from %s", path, path.stat().st_size / 2**20, snakemake.params.url)

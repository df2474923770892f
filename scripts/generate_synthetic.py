"""Rule generate_synthetic: write a synthetic dataset in the plain raw layout."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from pathlib import Path

from vitmed.data.raw import write_plain_layout
from vitmed.data.synthetic import generate
from vitmed.jobs.runtime import setup_job

log = setup_job(snakemake.log[0], threads=0)
cfg = snakemake.params.cfg
dataset = generate(cfg["generator"], cfg["n_images"], cfg["raw_size"], snakemake.params.seed)
write_plain_layout(dataset, Path(snakemake.output.labels).parent)
log.info("wrote %d %s images (%s, seed %d)", len(dataset.images), cfg["generator"], dataset.task,
         snakemake.params.seed)

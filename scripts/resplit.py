"""Rule resplit: the split of one repetition (repetitions: splits) over a prepared store."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from pathlib import Path

from vitmed.data.resplit import resplit_store
from vitmed.jobs.runtime import setup_job

log = setup_job(snakemake.log[0], threads=0)
meta = resplit_store(Path(snakemake.input.meta).parent, Path(snakemake.output.meta).parent,
                     seed=int(snakemake.wildcards.seed), ratios=snakemake.params.ratios)
log.info("split %d of %s: %s, split hash %s", meta["split_seed"], snakemake.wildcards.dataset, meta["split_sizes"],
         meta["split_hash"])

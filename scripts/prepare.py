"""Rule prepare: raw layout -> standardized store + split."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from pathlib import Path

from vitmed.data.adapters import read_raw
from vitmed.data.store import build_store
from vitmed.jobs.runtime import setup_job

log = setup_job(snakemake.log[0], threads=0)
cfg = snakemake.params.cfg
raw, manifest, fixed_splits = read_raw(cfg, snakemake.input[0])
if cfg.get("all_test"):  # an out-of-distribution test set (workflow dataset_config): every image is test data
    fixed_splits = None
meta = build_store(raw, Path(snakemake.output.meta).parent, image_size=snakemake.params.image_size,
                   ratios=cfg["split"], seed=snakemake.params.split_seed, metric=cfg["metric"],
                   manifest=manifest, fixed_splits=fixed_splits, skip_unreadable=cfg["skip_unreadable"])
log.info("prepared %d images (%d skipped): %s, split hash %s", meta["n_images"], meta["n_skipped"],
         meta["split_sizes"], meta["split_hash"])

"""Rule analyze, per dataset: CKA, attention distance (Figure 5) and saliency (Figure 4) of the
initialized and fine-tuned (first seed) models, each pair loaded once."""
from vitmed.jobs.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

import numpy as np

from vitmed.analysis.per_dataset import analyze_dataset
from vitmed.jobs.io import atomic_path, write_parquet
from vitmed.jobs.runtime import setup_job

log = setup_job(snakemake.log[0], snakemake.threads)
params, output = snakemake.params, snakemake.output
results = analyze_dataset(snakemake.wildcards.dataset, snakemake.input.meta, params.runs, params.models,
                          params.analysis, params.saliency if "saliency" in output.keys() else None,
                          params.input_size, params.eval_crop)
write_parquet(output.cka_layers, results["cka_layers"])
write_parquet(output.cka_models, results["cka_models"])
if "attention" in output.keys():
    write_parquet(output.attention, results["attention"])
if "saliency" in output.keys():
    with atomic_path(output.saliency) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **results["saliency"])

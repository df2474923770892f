"""Rule analyze, per dataset: CKA, attention distance (Figure 5) and saliency (Figure 4) of the
initialized and fine-tuned (first seed) models, each pair loaded once."""
from vitmed.warm import handoff

handoff(snakemake, __file__)  # config warm_start: runs in a fork of a pre-imported interpreter

from pathlib import Path

import numpy as np
import pandas as pd

from vitmed.analyses import attention_rows, cka_rows, runs_by_init, saliency_arrays
from vitmed.analysis_data import analysis_batches, load_model_pairs
from vitmed.io import atomic_path, write_parquet
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], snakemake.threads)
params, output, dataset, meta = snakemake.params, snakemake.output, snakemake.wildcards.dataset, snakemake.input.meta
analysis, saliency = params.analysis, params.saliency


def batches():
    return analysis_batches(meta, analysis, params.input_size)


layer_rows, model_rows, distances = [], [], []
for init, runs in runs_by_init(params.runs):
    pairs = list(load_model_pairs(meta, runs, params.models))
    layers, models = cka_rows(dataset, init, pairs, batches)
    layer_rows += layers
    model_rows += models
    tuned = {run["model"]: model for run, _, model in pairs}
    for run, initialized, finetuned in pairs:
        if run["model"] in analysis["attention_models"]:
            distances.append(attention_rows(dataset, run, initialized, finetuned, batches, analysis["n_images"]))
            log.info("%s %s: mean attention distance %.2f px", run["model"], init,
                     distances[-1]["distance"].mean())
    if "saliency" in output.keys() and init == saliency["init"]:
        arrays = saliency_arrays(Path(meta).parent, tuned[saliency["cnn"]], tuned[saliency["vit"]],
                                 saliency, params.input_size)
        with atomic_path(output.saliency) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        log.info("saliency of %d images: %.0f%% of patches hold %.0f%% of the CLS attention",
                 len(arrays["labels"]), 100 * arrays["kept"].mean(), 100 * saliency["mass"])
write_parquet(output.cka_layers, pd.DataFrame(layer_rows))
write_parquet(output.cka_models, pd.DataFrame(model_rows))
if "attention" in output.keys():
    write_parquet(output.attention, pd.concat(distances, ignore_index=True))
log.info("CKA of %d models x %d inits", len({row["model"] for row in layer_rows}), len(runs_by_init(params.runs)))

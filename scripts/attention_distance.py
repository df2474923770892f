"""Rule attention_distance: mean attention distance per layer and head, init and fine-tuned."""
import pandas as pd

from vitmed.analysis_data import analysis_batches, load_model_pairs
from vitmed.attention import attention_distances
from vitmed.io import write_parquet
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], snakemake.threads)
params = snakemake.params
tables = []
for run, initialized, tuned in load_model_pairs(snakemake.input.meta, params.runs, params.models):
    for stage, model in (("initialized", initialized), ("finetuned", tuned)):
        batches = analysis_batches(snakemake.input.meta, params.analysis, params.input_size)
        table = attention_distances(model, batches, params.analysis["n_images"])
        tables.append(table.assign(dataset=snakemake.wildcards.dataset, model=run["model"],
                                   init=run["init"], stage=stage))
        log.info("%s %s: mean distance %.2f px", run["init"], stage, table["distance"].mean())
write_parquet(snakemake.output[0], pd.concat(tables, ignore_index=True))

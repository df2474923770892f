"""Rule cka, per dataset: (a) layer x layer CKA between each initialized model and its
fine-tuned self; (b) last-layer CKA between the study's models, per init and stage."""
from itertools import groupby

import pandas as pd

from vitmed.analysis_data import analysis_batches, load_model_pairs
from vitmed.cka import embedding_cka, layerwise_cka
from vitmed.io import write_parquet
from vitmed.runtime import setup_job

log = setup_job(snakemake.log[0], snakemake.threads)
params, dataset, meta = snakemake.params, snakemake.wildcards.dataset, snakemake.input.meta


def batches():
    return analysis_batches(meta, params.analysis, params.input_size)


layer_rows, model_rows = [], []
runs_by_init = groupby(sorted(params.runs, key=lambda run: run["init"]), key=lambda run: run["init"])
for init, runs in runs_by_init:  # one init at a time: all its models, never the whole study, in memory
    pairs = list(load_model_pairs(meta, list(runs), params.models))
    for run, initialized, tuned in pairs:
        matrix = layerwise_cka(initialized, tuned, batches()).numpy()
        layer_rows += [{"dataset": dataset, "model": run["model"], "init": init, "layer_initialized": i,
                        "layer_finetuned": j, "cka": float(matrix[i, j])}
                       for i in range(matrix.shape[0]) for j in range(matrix.shape[1])]
        log.info("%s %s: diagonal CKA %s", run["model"], init, matrix.diagonal().round(3).tolist())
    names = [run["model"] for run, _, _ in pairs]
    for stage, position in (("initialized", 1), ("finetuned", 2)):
        matrix = embedding_cka([pair[position] for pair in pairs], batches()).numpy()
        model_rows += [{"dataset": dataset, "init": init, "stage": stage, "model_a": a, "model_b": b,
                        "cka": float(matrix[i, j])}
                       for i, a in enumerate(names) for j, b in enumerate(names)]
write_parquet(snakemake.output.layers, pd.DataFrame(layer_rows))
write_parquet(snakemake.output.models, pd.DataFrame(model_rows))
